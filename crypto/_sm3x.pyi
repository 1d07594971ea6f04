"""Typed surface of the native SM3 extension (crypto/_native/sm3x.c); see docs/crypto.md."""

from collections.abc import Sequence

type Buffer = bytes | bytearray | memoryview

def available() -> bool:
    """True when this CPU (and OS) runs a multi-buffer kernel (AVX-512 or AVX2)."""

def kernel() -> str:
    """The kernel chosen at import: "avx512", "avx2" or "portable"."""

def sm3(data: Buffer, /) -> bytes:
    """The 32-byte SM3 digest of ``data`` (one stream: C, with BMI2 or AVX-512VL if present)."""

def hmac_sm3(key: Buffer, data: Buffer, /) -> bytes:
    """HMAC-SM3 (RFC 2104) of ``data`` under ``key`` (keys over 64 bytes are hashed first)."""

def sm3_many(items: Sequence[Buffer], /) -> list[bytes]:
    """The SM3 digest of every item, in order (16 or 8 lanes in parallel when available)."""

def hmac_sm3_many(key: Buffer, items: Sequence[Buffer], /) -> list[bytes]:
    """HMAC-SM3 of every item under ``key``, in order."""
