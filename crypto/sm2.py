"""SM2 (GB/T 32918-2016): keys, signatures with a distinguishing ID, and public-key encryption.

Signing follows GB/T 32918.2 clause 6.1: ``Z = SM3(ENTL || ID || a || b || xG || yG || xA ||
yA)``, ``e = SM3(Z || M)``, then the native SM2 signature of ``e``. The ID defaults to
``1234567812345678`` (GB/T 35276-2017 clause 5.3; the same as GM/T 0009). Note that OpenSSL 3's
command line uses an EMPTY ID unless told ``-sigopt distid:1234567812345678``.

Signatures come in two forms: DER ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009) and raw
``r || s`` (32 bytes each, big-endian; the form JOSE uses). Encryption output is the GM/T 0009
ASN.1 ``SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING (32), ciphertext OCTET STRING }``
(C1C3C2 order); decryption always checks C3. All scalar arithmetic runs in OpenSSL
(:mod:`crypto._libcrypto`); this module only computes Z (public data) and checks encodings.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from crypto import _der, _libcrypto
from crypto.sm3 import SM3Hasher, sm3
from tulou.errors import InputError, UsageError, VerificationError

DEFAULT_UID: Final = b"1234567812345678"
#: The recommended curve of GB/T 32918.5-2017 clause 4 (the only one the backend serves).
P: Final = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF
A: Final = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFC
B: Final = 0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93
N: Final = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
GX: Final = 0x32C4AE2C_1F198119_5F990446_6A39C994_8FE30BBF_F2660BE1_715A4589_334C74C7
GY: Final = 0xBC3736A2_F4F6779C_59BDCEE3_6B692153_D0A9877C_C62A4740_02DF32E5_2139F0A0
#: (a, b, xG, yG) of the curve Z is computed over.
CURVE: Final = (A, B, GX, GY)

_OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1
_OID_SM2_CURVE = bytes.fromhex("06082a811ccf5501822d")  # 1.2.156.10197.1.301
_ALGORITHM = _der.sequence(_OID_EC_PUBLIC_KEY, _OID_SM2_CURVE)
_MAX_UID_BYTES = 8191  # ENTL is a 16-bit count of bits
_BAD_SIGNATURE = "SM2 signature does not verify"
_BAD_CIPHERTEXT = "SM2 decryption failed: wrong key, or the ciphertext was tampered with"


def _b(value: int) -> bytes:
    return value.to_bytes(32, "big")


def compute_z(
    point: bytes, uid: bytes = DEFAULT_UID, *, curve: tuple[int, int, int, int] = CURVE
) -> bytes:
    """Z_A of GB/T 32918.2 clause 5.5 for the uncompressed ``point`` (``04 || x || y``).

    ``curve`` is ``(a, b, xG, yG)``; only tests pass another curve (the standard's examples).
    """
    if len(point) != 65 or point[0] != 4:
        raise UsageError("an SM2 public point is 65 bytes: 04 || x || y")
    if len(uid) > _MAX_UID_BYTES:
        raise UsageError(f"an SM2 distinguishing ID is at most {_MAX_UID_BYTES} bytes")
    entl = (len(uid) * 8).to_bytes(2, "big")
    a, b, gx, gy = curve
    return sm3(entl + uid + _b(a) + _b(b) + _b(gx) + _b(gy) + point[1:])


def signature_to_raw(signature: bytes) -> bytes:
    """DER ``SEQUENCE { r, s }`` -> 64-byte ``r || s``."""
    body = _der.read_sequence(signature, "SM2 signature")
    r, pos = _der.read_integer(body, 0, "SM2 signature")
    s, pos = _der.read_integer(body, pos, "SM2 signature")
    if pos != len(body) or not (0 < r < N and 0 < s < N):
        raise InputError("SM2 signature: r and s must be two integers in [1, n-1]")
    return _b(r) + _b(s)


def signature_from_raw(raw: bytes) -> bytes:
    """64-byte ``r || s`` -> DER ``SEQUENCE { r, s }``."""
    if len(raw) != 64:
        raise InputError("a raw SM2 signature is 64 bytes (r || s)")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (0 < r < N and 0 < s < N):
        raise InputError("SM2 signature: r and s must be in [1, n-1]")
    return _der.sequence(_der.integer(r), _der.integer(s))


def _check_ciphertext(ciphertext: bytes) -> None:
    """Accept only the canonical DER of GM/T 0009's SM2Cipher (no malleable encodings)."""
    body = _der.read_sequence(ciphertext, "SM2 ciphertext")
    x, pos = _der.read_integer(body, 0, "SM2 ciphertext")
    y, pos = _der.read_integer(body, pos, "SM2 ciphertext")
    tag, c3, pos = _der.read_tlv(body, pos, "SM2 ciphertext")
    tag2, _c2, pos = _der.read_tlv(body, pos, "SM2 ciphertext")
    if tag != tag2 or tag != _der.OCTET_STRING or len(c3) != 32 or pos != len(body):
        raise InputError("SM2 ciphertext: expected SEQUENCE { x, y, C3 (32 bytes), C2 }")
    if not (x < P and y < P):
        raise InputError("SM2 ciphertext: C1 coordinates out of range")


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode()])
        + b"\n"
    )


def _unpem(data: bytes, labels: tuple[str, ...], what: str) -> tuple[str, bytes]:
    text = data.decode("ascii", errors="replace")
    for label in labels:
        begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
        start = text.find(begin)
        stop = text.find(end, start + len(begin))
        if start >= 0 and stop >= 0:
            try:
                return label, base64.b64decode(text[start + len(begin) : stop], validate=False)
            except (binascii.Error, ValueError):
                break
    raise InputError(f"{what}: no valid PEM block ({' / '.join(labels)})")


class SM2PublicKey:
    """An SM2 public key: verify signatures, encrypt to it, export SPKI PEM/DER."""

    __slots__ = ("_key", "_point")

    def __init__(self, key: _libcrypto.PKey, point: bytes) -> None:
        self._key = key
        self._point = point

    @classmethod
    def _wrap(cls, key: _libcrypto.PKey) -> SM2PublicKey:
        return cls(key, _libcrypto.public_point(key))

    @classmethod
    def from_der(cls, der: bytes) -> SM2PublicKey:
        """Load a SubjectPublicKeyInfo (DER); the point is checked to lie on the curve."""
        try:
            key = cls._wrap(_libcrypto.load_public_der(bytes(der)))
        except _libcrypto.NativeError as exc:
            raise InputError(f"not an SM2 public key ({exc.reason})") from None
        if key.to_der() != der:
            raise InputError("not an SM2 public key in canonical DER")
        return key

    @classmethod
    def from_pem(cls, pem: bytes) -> SM2PublicKey:
        return cls.from_der(_unpem(pem, ("PUBLIC KEY",), "SM2 public key")[1])

    @classmethod
    def from_point(cls, point: bytes) -> SM2PublicKey:
        """From the uncompressed point ``04 || x || y`` (65 bytes, as in JWKs and GM/T 0009)."""
        if len(point) != 65 or point[0] != 4:
            raise InputError("an SM2 public point is 65 bytes: 04 || x || y")
        return cls.from_der(_der.sequence(_ALGORITHM, _der.tlv(_der.BIT_STRING, b"\0" + point)))

    def to_der(self) -> bytes:
        return _libcrypto.public_der(self._key)

    def to_pem(self) -> bytes:
        return _pem("PUBLIC KEY", self.to_der())

    @property
    def point(self) -> bytes:
        """``04 || x || y``."""
        return self._point

    def fingerprint(self) -> str:
        """Hex SM3 of the SubjectPublicKeyInfo DER: a stable public identifier."""
        return sm3(self.to_der()).hex()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"SM2PublicKey(fingerprint={self.fingerprint()[:16]}...)"

    def hasher(self, uid: bytes = DEFAULT_UID) -> SM3Hasher:
        """An SM3 hasher pre-fed with Z: feed the message, ``digest()`` gives ``e``."""
        return SM3Hasher(compute_z(self._point, uid))

    def digest(self, data: bytes, uid: bytes = DEFAULT_UID) -> bytes:
        """``e = SM3(Z || data)`` (GB/T 32918.2 clause 6.1 steps A1-A2)."""
        h = self.hasher(uid)
        h.update(data)
        return h.digest()

    def verify_hashed(self, signature: bytes, e: bytes) -> None:
        """Verify a DER signature over a precomputed ``e``; raise :class:`VerificationError`."""
        if len(e) != 32:
            raise UsageError("e is a 32-byte SM3 value")
        try:
            signature_to_raw(signature)  # strict DER first: one encoding per signature
        except InputError:
            raise VerificationError(_BAD_SIGNATURE) from None
        if not _libcrypto.verify_digest(self._key, bytes(signature), e):
            raise VerificationError(_BAD_SIGNATURE)

    def verify(self, signature: bytes, data: bytes, *, uid: bytes = DEFAULT_UID) -> None:
        """Verify a DER signature of ``data``; raise :class:`VerificationError` if invalid."""
        self.verify_hashed(signature, self.digest(data, uid))

    def verify_raw(self, signature: bytes, data: bytes, *, uid: bytes = DEFAULT_UID) -> None:
        """Verify a 64-byte ``r || s`` signature of ``data``."""
        try:
            der = signature_from_raw(signature)
        except InputError:
            raise VerificationError(_BAD_SIGNATURE) from None
        self.verify(der, data, uid=uid)

    def encrypt(self, plaintext: bytes) -> bytes:
        """GM/T 0009 SM2 encryption (C1C3C2 DER). Adds 97-107 bytes to the plaintext."""
        if not plaintext:
            raise UsageError("SM2 cannot encrypt an empty message")
        return _libcrypto.encrypt(self._key, bytes(plaintext))


class SM2PrivateKey:
    """An SM2 private key held by OpenSSL. Its repr names only the public fingerprint."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: _libcrypto.PKey) -> None:
        self._key = key
        self._public = SM2PublicKey(
            _libcrypto.load_public_der(_libcrypto.public_der(key)), _libcrypto.public_point(key)
        )

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        return cls(_libcrypto.generate())

    @classmethod
    def from_private_bytes(cls, scalar: bytes) -> SM2PrivateKey:
        """From the 32-byte private scalar d (GB/T 32918.1 requires 1 <= d <= n-2)."""
        d = int.from_bytes(scalar, "big")
        if len(scalar) != 32 or not 1 <= d <= N - 2:
            raise InputError("an SM2 private scalar is 32 bytes in [1, n-2]")
        inner = _der.sequence(_der.integer(1), _der.tlv(_der.OCTET_STRING, scalar))
        pkcs8 = _der.sequence(_der.integer(0), _ALGORITHM, _der.tlv(_der.OCTET_STRING, inner))
        return cls.from_der(pkcs8)

    @classmethod
    def from_der(cls, der: bytes, password: bytes | None = None) -> SM2PrivateKey:
        """Load PKCS#8 DER (an EncryptedPrivateKeyInfo needs ``password``)."""
        body = _der.read_sequence(bytes(der), "SM2 private key")
        if body[:1] == bytes([_der.SEQUENCE]):  # EncryptedPrivateKeyInfo starts with an AlgId
            return cls.from_pem(_pem("ENCRYPTED PRIVATE KEY", der), password)
        try:
            return cls(_libcrypto.load_private_der(bytes(der)))
        except _libcrypto.NativeError as exc:
            raise InputError(f"not an SM2 private key ({exc.reason})") from None

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> SM2PrivateKey:
        """Load a PEM private key: PKCS#8, encrypted PKCS#8 or SEC1 ``EC PRIVATE KEY``."""
        label, _ = _unpem(
            pem, ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY"), "SM2 private key"
        )
        encrypted = label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in pem
        if encrypted and not password:
            raise UsageError("this private key is encrypted: a passphrase is required")
        try:
            return cls(_libcrypto.load_private_pem(bytes(pem), password if encrypted else None))
        except _libcrypto.NativeError as exc:
            if encrypted:
                raise VerificationError(
                    "cannot decrypt the private key: wrong passphrase"
                ) from None
            raise InputError(f"not an SM2 private key ({exc.reason})") from None

    def to_der(self, password: bytes | None = None, *, iterations: int = 200_000) -> bytes:
        """PKCS#8 DER; with ``password`` encrypted (PBES2: PBKDF2-HMAC-SHA256, SM4-CBC)."""
        if password is not None and (not password or b"\0" in password):
            raise UsageError("the passphrase must be non-empty and contain no NUL byte")
        return _libcrypto.private_der(self._key, password, iterations)

    def to_pem(self, password: bytes | None = None, *, iterations: int = 200_000) -> bytes:
        label = "PRIVATE KEY" if password is None else "ENCRYPTED PRIVATE KEY"
        return _pem(label, self.to_der(password, iterations=iterations))

    def public_key(self) -> SM2PublicKey:
        return self._public

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public.fingerprint()[:16]}...)"

    def sign_hashed(self, e: bytes) -> bytes:
        """DER signature of a precomputed ``e = SM3(Z || M)`` (see :meth:`SM2PublicKey.hasher`)."""
        if len(e) != 32:
            raise UsageError("e is a 32-byte SM3 value")
        return _libcrypto.sign_digest(self._key, bytes(e))

    def sign(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes:
        """GB/T 32918.2 signature of ``data`` with distinguishing ID ``uid``; DER."""
        return self.sign_hashed(self._public.digest(data, uid))

    def sign_raw(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes:
        """As :meth:`sign`, as 64-byte ``r || s``."""
        return signature_to_raw(self.sign(data, uid=uid))

    def decrypt(self, ciphertext: bytes) -> bytes:
        """GM/T 0009 SM2 decryption; C1 and C3 are checked. Raises :class:`VerificationError`."""
        try:
            _check_ciphertext(bytes(ciphertext))
        except InputError as exc:
            raise VerificationError(f"{_BAD_CIPHERTEXT} ({exc.message})") from None
        try:
            return _libcrypto.decrypt(self._key, bytes(ciphertext))
        except _libcrypto.NativeError:
            raise VerificationError(_BAD_CIPHERTEXT) from None
