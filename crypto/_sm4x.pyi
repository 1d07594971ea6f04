"""Typed surface of the native SM4 extension (crypto/_native/sm4x.c); see docs/crypto.md.

Every function but ``available``, ``kernel`` and ``kernels`` raises RuntimeError when
``available()`` is False, ValueError on a bad size (key 16 bytes, nonce 12 bytes, ECB input a
multiple of 16 bytes).
"""

type Buffer = bytes | bytearray | memoryview

def available() -> bool:
    """True when this CPU (and OS) runs one of the kernels (at least AES-NI + PCLMULQDQ)."""

def kernel() -> str | None:
    """The kernel chosen at import: "avx512", "vaes", "aesni-avx2", "aesni", or None."""

def kernels() -> list[str]:
    """Every kernel this CPU (and OS) runs, best first."""

def gcm_encrypt(key: Buffer, nonce: Buffer, aad: Buffer, data: Buffer, /) -> bytes:
    """SM4-GCM (NIST SP 800-38D, 96-bit nonce): ``ciphertext || 16-byte tag``."""

def gcm_decrypt(key: Buffer, nonce: Buffer, aad: Buffer, ct_and_tag: Buffer, /) -> bytes:
    """Inverse of :func:`gcm_encrypt`; ValueError (and no plaintext) when the tag is wrong."""

def ecb_encrypt_blocks(key: Buffer, data: Buffer, /) -> bytes:
    """SM4 encryption of every 16-byte block of ``data`` (for the GB/T 32907 vectors)."""

def ecb_decrypt_blocks(key: Buffer, data: Buffer, /) -> bytes:
    """SM4 decryption of every 16-byte block of ``data``."""

def gcm_seal_chunks(key: Buffer, aad: Buffer, data: Buffer, chunk: int, prefix: Buffer, /) -> bytes:
    """``prefix`` then the sealed format's chunks of ``data`` (crypto/sm4.py): ``chunk`` bytes
    each while more than ``chunk`` remain, then the rest; chunk i under the nonce
    ``i.to_bytes(11, "big") + (b"\\x01" if final else b"\\x00")``, each ``ciphertext || tag``.
    """

def gcm_open_chunks(key: Buffer, aad: Buffer, body: Buffer, chunk: int, /) -> bytes:
    """Plaintext of every chunk of :func:`gcm_seal_chunks` output (without its prefix);
    ValueError when a tag is wrong or the final chunk is shorter than its tag."""
