"""SM3 (GB/T 32905-2016): digest, streaming hasher, HMAC-SM3, the GB/T 32918 KDF, PBKDF2-HMAC-SM3.

One-shot hashing (:func:`sm3`, :func:`hmac_sm3`) and batch hashing (:func:`sm3_many`,
:func:`hmac_sm3_many`) run in our native extension :mod:`crypto._sm3x` (C, see
docs/crypto.md "Native backend — SM3") when it is built and this CPU has AVX2 or AVX-512: C for
one message (a little faster than OpenSSL's SM3, which has no x86 assembly), and many messages
at once, one per vector lane (8 with AVX2, 16 with AVX-512), for batches. Otherwise, and
whenever the environment variable ``TULOU_CRYPTO_NATIVE=0`` is set (read once, at import),
everything runs in OpenSSL through ``cryptography``. The streaming classes, PBKDF2 and the KDF
always use OpenSSL. Both backends give identical results (tests/unit/crypto/test_sm3_native.py
checks them against each other).

This module adds the SM2 key derivation function (a loop of SM3 calls, defined in GB/T
32918.4-2016 clause 5.4.3) and a typed, documented surface.

Password-based key derivation is PBKDF2 (RFC 8018 clause 5.2) with HMAC-SM3 as the PRF, a
16-byte random salt and :data:`PBKDF2_ITERATIONS` iterations by default (callers that store a
derived key record the iteration count beside the salt, so it can be raised later).
"""

from __future__ import annotations

import hmac as _hmac
from collections.abc import Sequence
from types import ModuleType

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _chmac
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto import native
from tulou.errors import UsageError, VerificationError

DIGEST_SIZE = 32
BLOCK_SIZE = 64
#: PBKDF2-HMAC-SM3 default work factor (about 0.3-0.5 s on one 2020s core).
PBKDF2_ITERATIONS = 300_000
#: The GB/T 32918.4 KDF output bound: (2^32 - 1) blocks of 32 bytes.
_KDF_MAX = (2**32 - 1) * DIGEST_SIZE


#: The backend of the one-shot and batch functions, chosen once (None means OpenSSL).
_native: ModuleType | None = native.load("_sm3x")


def native_active() -> bool:
    """True when the one-shot and batch functions run the native code (not OpenSSL)."""
    return _native is not None


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data`` (any bytes-like object)."""
    if _native is not None:
        digest: bytes = _native.sm3(data)
        return digest
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


class SM3Hasher:
    """Incremental SM3: ``update`` any number of times, then ``digest`` (once).

    ``copy`` forks the state, e.g. to hash a common prefix once.
    """

    __slots__ = ("_h",)
    digest_size = DIGEST_SIZE
    block_size = BLOCK_SIZE
    name = "sm3"

    def __init__(self, data: bytes = b"", *, _state: hashes.Hash | None = None) -> None:
        self._h = _state if _state is not None else hashes.Hash(hashes.SM3())
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def copy(self) -> SM3Hasher:
        return SM3Hasher(_state=self._h.copy())

    def digest(self) -> bytes:
        """Finish and return the digest; the hasher cannot be used afterwards."""
        return self._h.finalize()


def sm3_many(items: Sequence[bytes]) -> list[bytes]:
    """The SM3 digest of every item (bytes-like), in order: ``[sm3(x) for x in items]``.

    Natively, sixteen (AVX-512) or eight (AVX2) messages are hashed at once; a batch of at least
    that many similar-sized items (e.g. the chunks of a backup pack) runs about ten (AVX-512) or
    four (AVX2) times faster than one after another.
    """
    if _native is not None:
        digests: list[bytes] = _native.sm3_many(items)
        return digests
    return [sm3(x) for x in items]


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 (RFC 2104 with SM3) of ``data`` under ``key`` (any length; >= 16 advised)."""
    if not key:
        raise UsageError("HMAC-SM3 key must not be empty")
    if _native is not None:
        tag: bytes = _native.hmac_sm3(key, data)
        return tag
    mac = _chmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def hmac_sm3_many(key: bytes, items: Sequence[bytes]) -> list[bytes]:
    """HMAC-SM3 of every item under ``key``, in order: ``[hmac_sm3(key, x) for x in items]``."""
    if not key:
        raise UsageError("HMAC-SM3 key must not be empty")
    if _native is not None:
        tags: list[bytes] = _native.hmac_sm3_many(key, items)
        return tags
    return [hmac_sm3(key, x) for x in items]


def verify_hmac_sm3(key: bytes, data: bytes, tag: bytes) -> None:
    """Raise :class:`VerificationError` unless ``tag`` is HMAC-SM3(key, data) (constant time)."""
    if not _hmac.compare_digest(hmac_sm3(key, data), tag):
        raise VerificationError("HMAC-SM3 tag does not verify")


class HMACSM3:
    """Incremental HMAC-SM3 for large inputs."""

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise UsageError("HMAC-SM3 key must not be empty")
        self._mac = _chmac.HMAC(key, hashes.SM3())

    def __repr__(self) -> str:
        return "HMACSM3(<key hidden>)"

    def update(self, data: bytes) -> None:
        self._mac.update(data)

    def digest(self) -> bytes:
        return self._mac.finalize()


def kdf(z: bytes, length: int) -> bytes:
    """The SM2 key derivation function of GB/T 32918.4-2016 clause 5.4.3.

    ``K = SM3(Z || ct=1) || SM3(Z || ct=2) || ...`` truncated to ``length`` bytes, with the
    32-bit big-endian counter ``ct`` starting at 1.
    """
    if length < 0 or length > _KDF_MAX:
        raise UsageError(f"KDF length must be between 0 and {_KDF_MAX} bytes")
    out = bytearray()
    prefix = SM3Hasher(z)
    counter = 1
    while len(out) < length:
        h = prefix.copy()
        h.update(counter.to_bytes(4, "big"))
        out += h.digest()
        counter += 1
    return bytes(out[:length])


def pbkdf2_sm3(
    password: bytes, salt: bytes, *, length: int = 16, iterations: int = PBKDF2_ITERATIONS
) -> bytes:
    """PBKDF2-HMAC-SM3 (RFC 8018 clause 5.2): ``length`` bytes from a password and salt."""
    if len(salt) < 16:
        raise UsageError("PBKDF2 salt must be at least 16 bytes")
    if iterations < 1:
        raise UsageError("PBKDF2 iterations must be positive")
    if not password:
        raise UsageError("the passphrase must not be empty")
    return PBKDF2HMAC(hashes.SM3(), length, salt, iterations).derive(password)
