"""SM4 (GB/T 32907-2016): sealed (authenticated) messages and streams, plus raw CBC and CTR.

``seal`` / ``open`` and the streaming :class:`Sealer` / :class:`Opener` are the default: SM4-GCM
in a chunked format where **no caller ever supplies a nonce**. Each sealed message draws a
fresh 16-byte random salt and derives its own one-time key from the caller's key::

    K_msg = HMAC-SM3(key, "tulou/sm4-seal/v1" || salt)[:16]

Under ``K_msg`` the GCM nonces are the chunk counter (11 bytes, big-endian) followed by a
final-chunk flag byte, so within one message every nonce is distinct by construction, and no
``K_msg`` ever encrypts a second message. Two messages share a key only if two random 128-bit
salts collide (probability about n^2 / 2^129 for n messages). The counter and the final flag
also make truncation, reordering and splicing of chunks detectable. Format: docs/crypto.md.

CBC (PKCS#7 padding) and CTR are provided for interoperability with other systems and with
``openssl enc``; they are NOT authenticated — never use them without a separate MAC.

Backends. The GCM work of the sealed format runs in our native extension :mod:`crypto._sm4x`
(C, see docs/crypto.md "Native backend — SM4") when it is built and this CPU has a kernel for
it: SM4 with a GFNI S-box on AVX-512, or with the S-box computed by AES-NI (VAES on ymm
registers where the CPU has it), GHASH with (V)PCLMULQDQ. Otherwise, and whenever the
environment variable ``TULOU_CRYPTO_NATIVE=0`` is set (read once, at import), it runs in OpenSSL
through ``cryptography``; both give the same bytes (tests/unit/crypto/test_sm4_native.py checks
them against each other for every kernel the CPU runs). CBC, CTR and the per-message key
derivation always use OpenSSL / :mod:`crypto.sm3`.
"""

from __future__ import annotations

import hmac as _hmac
import secrets
from types import ModuleType
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto import native
from crypto.sm3 import hmac_sm3
from tulou.errors import InputError, UsageError, VerificationError

KEY_SIZE = 16
BLOCK_SIZE = 16
TAG_SIZE = 16
SALT_SIZE = 16
VERSION = 1
#: log2 of the plaintext bytes per chunk: 2^18 = 256 KiB by default (per-chunk set-up cost
#: stays under a few percent of SM4 throughput; measured in bench/crypto).
DEFAULT_CHUNK_BITS = 18
_MIN_CHUNK_BITS, _MAX_CHUNK_BITS = 10, 24
HEADER_SIZE = 2 + SALT_SIZE
_KEY_LABEL = b"tulou/sm4-seal/v1"
_AUTH_FAILED = "SM4-GCM authentication failed: wrong key, wrong associated data or tampered data"


#: The backend of the sealed format's GCM, chosen once (None means OpenSSL).
_native: ModuleType | None = native.load("_sm4x")


def native_active() -> bool:
    """True when sealing and opening run the native SM4-GCM (not OpenSSL)."""
    return _native is not None


def _gcm_seal(key: bytes, nonce: bytes, aad: bytes, data: memoryview | bytes | bytearray) -> bytes:
    """SM4-GCM: ``ciphertext || 16-byte tag``."""
    if _native is not None:
        out: bytes = _native.gcm_encrypt(key, nonce, aad, data)
        return out
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(data) + enc.finalize() + enc.tag


def _gcm_open(key: bytes, nonce: bytes, aad: bytes, data: memoryview | bytes | bytearray) -> bytes:
    """Inverse of :func:`_gcm_seal`; raises VerificationError on any change."""
    if _native is not None:
        try:
            out: bytes = _native.gcm_decrypt(key, nonce, aad, data)
        except ValueError:
            raise VerificationError(_AUTH_FAILED) from None
        return out
    body, tag = data[:-TAG_SIZE], bytes(data[-TAG_SIZE:])
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(body) + dec.finalize()
    except InvalidTag:
        raise VerificationError(_AUTH_FAILED) from None


def _native_open_chunks(key: bytes, aad: bytes, body: memoryview, chunk: int) -> bytes:
    """Every chunk of a sealed body, natively; the errors of the streaming path."""
    assert _native is not None
    size = chunk + TAG_SIZE
    final = len(body) - (max(0, len(body) - 1) // size) * size
    if final < TAG_SIZE:
        # The streaming path's error: the chunks before the cut are authenticated first.
        for index, pos in enumerate(range(0, len(body) - final, size)):
            _gcm_open(key, _nonce(index, False), aad, body[pos : pos + size])
        raise VerificationError("sealed SM4 message is truncated")
    try:
        out: bytes = _native.gcm_open_chunks(key, aad, body, chunk)
    except ValueError:
        raise VerificationError(_AUTH_FAILED) from None
    return out


def generate_key() -> bytes:
    """A fresh random 16-byte SM4 key from the operating system's CSPRNG."""
    return secrets.token_bytes(KEY_SIZE)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise UsageError(f"an SM4 key is exactly {KEY_SIZE} bytes")


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class Sealer:
    """Encrypt a stream: ``update`` returns ciphertext as chunks fill, ``finalize`` the rest.

    The concatenation of the header (returned by the first ``update``/``finalize``), all
    ``update`` outputs and the ``finalize`` output is one sealed message for :class:`Opener`.
    """

    def __init__(
        self, key: bytes, *, aad: bytes = b"", chunk_bits: int = DEFAULT_CHUNK_BITS
    ) -> None:
        _check_key(key)
        if not _MIN_CHUNK_BITS <= chunk_bits <= _MAX_CHUNK_BITS:
            raise UsageError(f"chunk_bits must be in {_MIN_CHUNK_BITS}..{_MAX_CHUNK_BITS}")
        salt = secrets.token_bytes(SALT_SIZE)
        self._header = bytes([VERSION, chunk_bits]) + salt
        self._key = hmac_sm3(bytes(key), _KEY_LABEL + salt)[:KEY_SIZE]
        self._aad = self._header + aad
        self._chunk = 1 << chunk_bits
        self._buf = bytearray()
        self._index = 0
        self._pending_header = True
        self._done = False

    def __repr__(self) -> str:
        return f"Sealer(chunk={self._chunk}, index={self._index}, key=<hidden>)"

    def _seal_chunk(self, data: memoryview | bytes | bytearray, final: bool) -> bytes:
        out = _gcm_seal(self._key, _nonce(self._index, final), self._aad, data)
        self._index += 1
        return out

    def _take_header(self) -> list[bytes]:
        if self._pending_header:
            self._pending_header = False
            return [self._header]
        return []

    def update(self, data: bytes) -> bytes:
        if self._done:
            raise UsageError("Sealer already finalized")
        out = self._take_header()
        # Full chunks are sealed straight from ``data``; only a partial chunk is buffered.
        # A chunk is sealed once more bytes follow it: only finalize() knows the last one.
        with memoryview(data) as raw, raw.cast("B") as view:
            pos = 0
            if self._buf:
                pos = self._chunk - len(self._buf)
                if len(view) <= pos:
                    self._buf += view
                    return b"".join(out)
                self._buf += view[:pos]
                out.append(self._seal_chunk(self._buf, final=False))
                self._buf.clear()
            while len(view) - pos > self._chunk:
                out.append(self._seal_chunk(view[pos : pos + self._chunk], final=False))
                pos += self._chunk
            self._buf += view[pos:]
        return b"".join(out)

    def seal_all(self, data: bytes) -> bytes:
        """``update(data) + finalize()`` on a fresh Sealer, without buffering copies.

        The output is byte for byte what the two calls return; it is one allocation plus the
        chunks (large messages are bound by memory traffic once SM4-GCM runs at GB/s).
        """
        if self._done or not self._pending_header or self._buf:
            raise UsageError("seal_all needs a fresh Sealer")
        self._done = True
        self._pending_header = False
        if _native is not None:  # the whole chunk loop natively, into one output object
            out: bytes = _native.gcm_seal_chunks(
                self._key, self._aad, data, self._chunk, self._header
            )
            return out
        parts = [self._header]
        with memoryview(data) as raw, raw.cast("B") as view:
            pos = 0
            while len(view) - pos > self._chunk:
                parts.append(self._seal_chunk(view[pos : pos + self._chunk], final=False))
                pos += self._chunk
            parts.append(self._seal_chunk(view[pos:], final=True))
        return b"".join(parts)

    def finalize(self) -> bytes:
        if self._done:
            raise UsageError("Sealer already finalized")
        self._done = True
        out = self._take_header()
        out.append(self._seal_chunk(bytes(self._buf), final=True))
        self._buf.clear()
        return b"".join(out)


class Opener:
    """Decrypt a stream sealed by :class:`Sealer`.

    ``update`` returns plaintext of chunks that have been authenticated. The message is only
    complete and authentic once ``finalize`` returns: until then it may be truncated, so a
    caller writing plaintext out must discard it if ``finalize`` (or ``update``) raises.
    """

    def __init__(self, key: bytes, *, aad: bytes = b"") -> None:
        _check_key(key)
        self._master = bytes(key)
        self._user_aad = aad
        self._key = b""
        self._aad = b""
        self._chunk = 0
        self._buf = bytearray()
        self._index = 0
        self._done = False

    def __repr__(self) -> str:
        return f"Opener(chunk={self._chunk}, index={self._index}, key=<hidden>)"

    def _read_header(self) -> bool:
        if self._chunk:
            return True
        if len(self._buf) < HEADER_SIZE:
            return False
        header = bytes(self._buf[:HEADER_SIZE])
        if header[0] != VERSION:
            raise InputError(f"not a sealed SM4 message of a known version (got {header[0]})")
        if not _MIN_CHUNK_BITS <= header[1] <= _MAX_CHUNK_BITS:
            raise InputError("sealed SM4 message has an invalid chunk size")
        self._key = hmac_sm3(self._master, _KEY_LABEL + header[2:])[:KEY_SIZE]
        self._aad = header + self._user_aad
        self._chunk = 1 << header[1]
        del self._buf[:HEADER_SIZE]
        return True

    def _open_chunk(self, data: memoryview | bytes | bytearray, final: bool) -> bytes:
        out = _gcm_open(self._key, _nonce(self._index, final), self._aad, data)
        self._index += 1
        return out

    def update(self, data: bytes) -> bytes:
        if self._done:
            raise UsageError("Opener already finalized")
        # As in Sealer.update: full chunks are opened straight from ``data``. Keep at least
        # one full chunk back: only end-of-input tells us which chunk is the last.
        with memoryview(data) as raw, raw.cast("B") as view:
            pos = 0
            if not self._chunk:
                pos = min(len(view), HEADER_SIZE - len(self._buf))
                self._buf += view[:pos]
                if not self._read_header():
                    return b""
            size = self._chunk + TAG_SIZE
            out: list[bytes] = []
            if self._buf:
                need = size - len(self._buf)
                if len(view) - pos <= need:
                    self._buf += view[pos:]
                    return b""
                self._buf += view[pos : pos + need]
                pos += need
                out.append(self._open_chunk(self._buf, final=False))
                self._buf.clear()
            while len(view) - pos > size:
                out.append(self._open_chunk(view[pos : pos + size], final=False))
                pos += size
            self._buf += view[pos:]
        return b"".join(out)

    def open_all(self, data: bytes) -> bytes:
        """``update(data) + finalize()`` on a fresh Opener, without buffering copies.

        Same result and the same errors as the two calls.
        """
        if self._done or self._chunk or self._buf:
            raise UsageError("open_all needs a fresh Opener")
        with memoryview(data) as raw, raw.cast("B") as view:
            self._buf += view[:HEADER_SIZE]
            if not self._read_header():
                return self.finalize()  # raises: the header is incomplete
            self._done = True
            body = view[HEADER_SIZE:]
            if _native is not None:
                return _native_open_chunks(self._key, self._aad, body, self._chunk)
            size = self._chunk + TAG_SIZE
            out: list[bytes] = []
            pos = 0
            while len(body) - pos > size:
                out.append(self._open_chunk(body[pos : pos + size], final=False))
                pos += size
            if len(body) - pos < TAG_SIZE:
                raise VerificationError("sealed SM4 message is truncated")
            out.append(self._open_chunk(body[pos:], final=True))
        return b"".join(out)

    def finalize(self) -> bytes:
        if self._done:
            raise UsageError("Opener already finalized")
        self._done = True
        if not self._read_header():
            raise InputError("sealed SM4 message is truncated (incomplete header)")
        if len(self._buf) < TAG_SIZE:
            raise VerificationError("sealed SM4 message is truncated")
        out = self._open_chunk(bytes(self._buf), final=True)
        self._buf.clear()
        return out


def seal(key: bytes, plaintext: bytes, *, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate ``plaintext`` (and bind ``aad``) under a 16-byte key."""
    return Sealer(key, aad=aad).seal_all(plaintext)


def open(key: bytes, sealed: bytes, *, aad: bytes = b"") -> bytes:
    """Authenticate and decrypt a message from :func:`seal`; raise on any change."""
    return Opener(key, aad=aad).open_all(sealed)


def seal_stream(
    key: bytes, src: BinaryIO, dst: BinaryIO, *, aad: bytes = b"", read_size: int = 1 << 20
) -> int:
    """Seal everything from ``src`` into ``dst``; return the plaintext byte count."""
    sealer = Sealer(key, aad=aad)
    total = 0
    while block := src.read(read_size):
        total += len(block)
        dst.write(sealer.update(block))
    dst.write(sealer.finalize())
    return total


def open_stream(
    key: bytes, src: BinaryIO, dst: BinaryIO, *, aad: bytes = b"", read_size: int = 1 << 20
) -> int:
    """Open a sealed stream from ``src`` into ``dst``; return the plaintext byte count.

    On error ``dst`` holds a prefix of authenticated chunks: the caller must discard it.
    """
    opener = Opener(key, aad=aad)
    total = 0
    while block := src.read(read_size):
        out = opener.update(block)
        total += len(out)
        dst.write(out)
    out = opener.finalize()
    dst.write(out)
    return total + len(out)


def cbc_encrypt(key: bytes, plaintext: bytes, *, iv: bytes | None = None) -> bytes:
    """SM4-CBC with PKCS#7 padding; returns ``iv || ciphertext`` (random IV unless given).

    Unauthenticated: for interoperability only (``openssl enc -sm4-cbc``).
    """
    _check_key(key)
    iv = secrets.token_bytes(BLOCK_SIZE) if iv is None else iv
    if len(iv) != BLOCK_SIZE:
        raise UsageError("an SM4-CBC IV is 16 bytes")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.SM4(bytes(key)), modes.CBC(iv)).encryptor()
    return iv + enc.update(padded) + enc.finalize()


def cbc_decrypt(key: bytes, data: bytes) -> bytes:
    """Inverse of :func:`cbc_encrypt` (input ``iv || ciphertext``)."""
    _check_key(key)
    if len(data) < 2 * BLOCK_SIZE or len(data) % BLOCK_SIZE:
        raise InputError("SM4-CBC input must be an IV plus a positive multiple of 16 bytes")
    dec = Cipher(algorithms.SM4(bytes(key)), modes.CBC(data[:BLOCK_SIZE])).decryptor()
    padded = dec.update(data[BLOCK_SIZE:]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VerificationError("SM4-CBC padding is invalid: wrong key or corrupted data") from None


def ctr_encrypt(key: bytes, plaintext: bytes, *, counter: bytes | None = None) -> bytes:
    """SM4-CTR; returns ``initial counter block || ciphertext`` (random unless given).

    Unauthenticated: for interoperability only.
    """
    _check_key(key)
    counter = secrets.token_bytes(BLOCK_SIZE) if counter is None else counter
    if len(counter) != BLOCK_SIZE:
        raise UsageError("an SM4-CTR initial counter block is 16 bytes")
    enc = Cipher(algorithms.SM4(bytes(key)), modes.CTR(counter)).encryptor()
    return counter + enc.update(plaintext) + enc.finalize()


def ctr_decrypt(key: bytes, data: bytes) -> bytes:
    """Inverse of :func:`ctr_encrypt`."""
    _check_key(key)
    if len(data) < BLOCK_SIZE:
        raise InputError("SM4-CTR input is shorter than its counter block")
    dec = Cipher(algorithms.SM4(bytes(key)), modes.CTR(data[:BLOCK_SIZE])).decryptor()
    return dec.update(data[BLOCK_SIZE:]) + dec.finalize()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings without leaking where they differ."""
    return _hmac.compare_digest(a, b)
