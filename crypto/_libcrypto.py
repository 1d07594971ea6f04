"""The SM2 native backend: OpenSSL 3's libcrypto (the system library) through ctypes.

Why this shape: ``cryptography`` has no SM2, and tongsuopy's public API offers neither SM2
encryption nor a distinguishing ID. So SM2 runs on the system's OpenSSL 3 ``libcrypto.so.3``
(the library the ``openssl`` command uses, kept current by the distribution's security updates)
through a small set of stable, documented EVP calls:

- ``EVP_PKEY_generate`` for key generation (OpenSSL's DRBG draws the scalar);
- ``EVP_PKEY_sign`` / ``EVP_PKEY_verify`` on the 32-byte value ``e = SM3(Z || M)``. OpenSSL's
  SM2 signature of a *pre-computed* digest is exactly the GB/T 32918.2 algorithm from step A3
  on (random k, [k]G, r, s), so computing Z ourselves (:mod:`crypto.sm2`) gives any
  distinguishing ID without ``EVP_PKEY_CTX_set1_id`` plumbing, and the nonce and scalar
  arithmetic stay native and constant-time;
- ``EVP_PKEY_encrypt`` / ``EVP_PKEY_decrypt``, whose output is the GM/T 0009 ASN.1 C1C3C2
  structure with SM3; OpenSSL checks C3 (in constant time) and that C1 is on the curve;
- PKCS#8 / SubjectPublicKeyInfo encoding and decoding, and PKCS#8 encryption (PBES2).

Nothing is loaded at import time: :func:`lib` opens the library on first use. Every pointer
that Python owns is freed by a finalizer; no private key is ever passed as a Python integer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref
from collections.abc import Callable
from typing import Any

from tulou.errors import ConfigError

_P = ctypes.c_void_p
_UCHARPP = ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))
PEM_PASSWORD_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, _P)

_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "OpenSSL_version": (ctypes.c_char_p, [ctypes.c_int]),
    "ERR_get_error": (ctypes.c_ulong, []),
    "ERR_clear_error": (None, []),
    "ERR_error_string_n": (None, [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_size_t]),
    "CRYPTO_free": (None, [_P, ctypes.c_char_p, ctypes.c_int]),
    "BIO_new_mem_buf": (_P, [ctypes.c_char_p, ctypes.c_int]),
    "BIO_free": (ctypes.c_int, [_P]),
    "PEM_read_bio_PrivateKey": (_P, [_P, _P, PEM_PASSWORD_CB, _P]),
    "d2i_PUBKEY": (_P, [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
    "d2i_AutoPrivateKey": (_P, [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
    "i2d_PUBKEY": (ctypes.c_int, [_P, _UCHARPP]),
    "EVP_PKEY2PKCS8": (_P, [_P]),
    "i2d_PKCS8_PRIV_KEY_INFO": (ctypes.c_int, [_P, _UCHARPP]),
    "PKCS8_PRIV_KEY_INFO_free": (None, [_P]),
    "PKCS8_encrypt": (
        _P,
        [ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_int, _P, ctypes.c_int, ctypes.c_int, _P],
    ),
    "i2d_X509_SIG": (ctypes.c_int, [_P, _UCHARPP]),
    "X509_SIG_free": (None, [_P]),
    "EVP_CIPHER_fetch": (_P, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "EVP_CIPHER_free": (None, [_P]),
    "EVP_PKEY_is_a": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "EVP_PKEY_get1_encoded_public_key": (ctypes.c_size_t, [_P, _UCHARPP]),
    "EVP_PKEY_free": (None, [_P]),
    "EVP_PKEY_CTX_new_from_name": (_P, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "EVP_PKEY_CTX_new_from_pkey": (_P, [_P, _P, ctypes.c_char_p]),
    "EVP_PKEY_CTX_free": (None, [_P]),
    "EVP_PKEY_keygen_init": (ctypes.c_int, [_P]),
    "EVP_PKEY_generate": (ctypes.c_int, [_P, ctypes.POINTER(_P)]),
    "EVP_PKEY_sign_init": (ctypes.c_int, [_P]),
    "EVP_PKEY_verify_init": (ctypes.c_int, [_P]),
    "EVP_PKEY_encrypt_init": (ctypes.c_int, [_P]),
    "EVP_PKEY_decrypt_init": (ctypes.c_int, [_P]),
}
_IO = [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p, ctypes.c_size_t]
for _name in ("EVP_PKEY_sign", "EVP_PKEY_encrypt", "EVP_PKEY_decrypt"):
    _SIGNATURES[_name] = (ctypes.c_int, _IO)
_SIGNATURES["EVP_PKEY_verify"] = (
    ctypes.c_int,
    [_P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t],
)


class NativeError(Exception):
    """A libcrypto call failed; ``reason`` is OpenSSL's (secret-free) error string."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}" if reason else what)


class LibCrypto:
    """The loaded library with typed function pointers (see :data:`_SIGNATURES`)."""

    def __init__(self, path: str) -> None:
        self._dll = ctypes.CDLL(path)
        self.path = path
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(self._dll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        version = self._dll.OpenSSL_version_num
        version.restype = ctypes.c_ulong
        self.version_num: int = version()
        self.version: str = self.OpenSSL_version(0).decode()

    def __getattr__(self, name: str) -> Any:  # only reached for undeclared names
        raise AttributeError(name)

    def error(self, what: str) -> NativeError:
        """Drain OpenSSL's error queue into a :class:`NativeError`."""
        first = 0
        while code := self.ERR_get_error():
            first = first or code
        reason = ""
        if first:
            buf = ctypes.create_string_buffer(256)
            self.ERR_error_string_n(first, buf, len(buf))
            reason = buf.value.decode(errors="replace")
        return NativeError(what, reason)


@functools.cache
def lib() -> LibCrypto:
    """Open libcrypto (once). Raise :class:`ConfigError` if OpenSSL 3 with SM2 is missing."""
    path = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    try:
        loaded = LibCrypto(path)
    except (OSError, AttributeError) as exc:
        raise ConfigError(f"OpenSSL 3 libcrypto with SM2 is required ({exc})") from None
    if loaded.version_num < 0x30000000:
        raise ConfigError(f"OpenSSL >= 3.0 is required for SM2, found {loaded.version}")
    return loaded


class PKey:
    """An owned ``EVP_PKEY*``; freed when the object is collected. Never printed."""

    __slots__ = ("__weakref__", "_finalizer", "ptr")

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr
        self._finalizer = weakref.finalize(self, lib().EVP_PKEY_free, ptr)

    def __repr__(self) -> str:
        return "PKey(<native>)"


def _i2d(fn: Callable[..., int], obj: int, what: str) -> bytes:
    """Run an OpenSSL ``i2d_*`` function into a buffer we own, then wipe the buffer."""
    size = fn(obj, None)
    if size <= 0:
        raise lib().error(what)
    buf = (ctypes.c_ubyte * size)()
    cursor = ctypes.cast(buf, ctypes.POINTER(ctypes.c_ubyte))
    if fn(obj, ctypes.byref(cursor)) != size:
        raise lib().error(what)
    out = bytes(buf)
    ctypes.memset(buf, 0, size)
    return out


def _owned_pkey(ptr: int | None, what: str) -> PKey:
    if not ptr:
        raise lib().error(what)
    key = PKey(ptr)
    if lib().EVP_PKEY_is_a(ptr, b"SM2") != 1:
        raise NativeError(what, "not an SM2 key")
    return key


def generate() -> PKey:
    """A new SM2 key pair from OpenSSL's DRBG."""
    c = lib()
    ctx = c.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        raise c.error("SM2 key generation unavailable")
    try:
        out = _P()
        if c.EVP_PKEY_keygen_init(ctx) != 1 or c.EVP_PKEY_generate(ctx, ctypes.byref(out)) != 1:
            raise c.error("SM2 key generation failed")
        return _owned_pkey(out.value, "SM2 key generation failed")
    finally:
        c.EVP_PKEY_CTX_free(ctx)


def load_private_pem(pem: bytes, password: bytes | None) -> PKey:
    """Decode a PEM private key (PKCS#8, possibly encrypted, or SEC1)."""
    c = lib()
    c.ERR_clear_error()

    # Always pass a callback: without one OpenSSL would prompt on the terminal.
    def supply(buf: int, size: int, _rw: int, _u: int) -> int:
        if password is None or len(password) > size:
            return -1
        ctypes.memmove(buf, password, len(password))
        return len(password)

    callback = PEM_PASSWORD_CB(supply)
    bio = c.BIO_new_mem_buf(pem, len(pem))
    if not bio:
        raise c.error("out of memory")
    try:
        ptr = c.PEM_read_bio_PrivateKey(bio, None, callback, None)
    finally:
        c.BIO_free(bio)
    return _owned_pkey(ptr, "cannot decode the private key")


def load_private_der(der: bytes) -> PKey:
    """Decode an unencrypted PKCS#8 (or SEC1) DER private key."""
    c = lib()
    c.ERR_clear_error()
    cursor = ctypes.c_char_p(der)
    ptr = c.d2i_AutoPrivateKey(None, ctypes.byref(cursor), len(der))
    return _owned_pkey(ptr, "cannot decode the private key")


def load_public_der(der: bytes) -> PKey:
    """Decode a SubjectPublicKeyInfo (OpenSSL checks the point is on the curve)."""
    c = lib()
    c.ERR_clear_error()
    cursor = ctypes.c_char_p(der)
    ptr = c.d2i_PUBKEY(None, ctypes.byref(cursor), len(der))
    return _owned_pkey(ptr, "cannot decode the public key")


def public_der(key: PKey) -> bytes:
    """SubjectPublicKeyInfo DER (id-ecPublicKey, curve OID 1.2.156.10197.1.301)."""
    return _i2d(lib().i2d_PUBKEY, key.ptr, "cannot encode the public key")


def public_point(key: PKey) -> bytes:
    """The uncompressed point ``04 || x || y`` (65 bytes)."""
    c = lib()
    out = ctypes.POINTER(ctypes.c_ubyte)()
    size = c.EVP_PKEY_get1_encoded_public_key(key.ptr, ctypes.byref(out))
    if not size:
        raise c.error("cannot read the public point")
    try:
        return ctypes.string_at(out, size)
    finally:
        c.CRYPTO_free(out, None, 0)


def private_der(key: PKey, password: bytes | None = None, iterations: int = 0) -> bytes:
    """PKCS#8 DER; with a password an EncryptedPrivateKeyInfo (PBES2, PBKDF2, SM4-CBC)."""
    c = lib()
    p8 = c.EVP_PKEY2PKCS8(key.ptr)
    if not p8:
        raise c.error("cannot encode the private key")
    try:
        if password is None:
            return _i2d(c.i2d_PKCS8_PRIV_KEY_INFO, p8, "cannot encode the private key")
        cipher = c.EVP_CIPHER_fetch(None, b"SM4-CBC", None)
        if not cipher:
            raise c.error("SM4-CBC unavailable for PKCS#8 encryption")
        try:
            # pbe_nid -1 selects PBES2; a NULL salt makes OpenSSL draw a random one.
            sig = c.PKCS8_encrypt(-1, cipher, password, len(password), None, 0, iterations, p8)
        finally:
            c.EVP_CIPHER_free(cipher)
        if not sig:
            raise c.error("cannot encrypt the private key")
        try:
            return _i2d(c.i2d_X509_SIG, sig, "cannot encode the private key")
        finally:
            c.X509_SIG_free(sig)
    finally:
        c.PKCS8_PRIV_KEY_INFO_free(p8)


def _ctx(key: PKey, init: str, what: str) -> int:
    c = lib()
    c.ERR_clear_error()
    ctx = c.EVP_PKEY_CTX_new_from_pkey(None, key.ptr, None)
    if not ctx:
        raise c.error(what)
    if getattr(c, init)(ctx) != 1:
        c.EVP_PKEY_CTX_free(ctx)
        raise c.error(what)
    return int(ctx)


def _run(fn: Callable[..., int], ctx: int, data: bytes, what: str) -> bytes:
    c = lib()
    size = ctypes.c_size_t(0)
    if fn(ctx, None, ctypes.byref(size), data, len(data)) != 1:
        raise c.error(what)
    out = ctypes.create_string_buffer(size.value)
    if fn(ctx, out, ctypes.byref(size), data, len(data)) != 1:
        raise c.error(what)
    result = out.raw[: size.value]
    ctypes.memset(out, 0, len(out))
    return result


def sign_digest(key: PKey, e: bytes) -> bytes:
    """SM2-sign the 32-byte ``e``; DER ``SEQUENCE { r, s }``."""
    ctx = _ctx(key, "EVP_PKEY_sign_init", "SM2 signing failed")
    try:
        return _run(lib().EVP_PKEY_sign, ctx, e, "SM2 signing failed")
    finally:
        lib().EVP_PKEY_CTX_free(ctx)


def verify_digest(key: PKey, signature: bytes, e: bytes) -> bool:
    """True iff ``signature`` (DER) is valid for ``e``; malformed input is simply False."""
    c = lib()
    ctx = _ctx(key, "EVP_PKEY_verify_init", "SM2 verification failed")
    try:
        ok = bool(c.EVP_PKEY_verify(ctx, signature, len(signature), e, len(e)) == 1)
    finally:
        c.EVP_PKEY_CTX_free(ctx)
        c.ERR_clear_error()
    return ok


def encrypt(key: PKey, plaintext: bytes) -> bytes:
    """GM/T 0009 SM2 encryption (ASN.1 C1C3C2, SM3)."""
    ctx = _ctx(key, "EVP_PKEY_encrypt_init", "SM2 encryption failed")
    try:
        return _run(lib().EVP_PKEY_encrypt, ctx, plaintext, "SM2 encryption failed")
    finally:
        lib().EVP_PKEY_CTX_free(ctx)


def decrypt(key: PKey, ciphertext: bytes) -> bytes:
    """GM/T 0009 SM2 decryption; raises :class:`NativeError` if C3 or C1 do not check."""
    ctx = _ctx(key, "EVP_PKEY_decrypt_init", "SM2 decryption failed")
    try:
        return _run(lib().EVP_PKEY_decrypt, ctx, ciphertext, "SM2 decryption failed")
    finally:
        lib().EVP_PKEY_CTX_free(ctx)
