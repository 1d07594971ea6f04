"""ctypes access to the Lattigo bridge (``crypto/he/lattigo``, a Go ``c-shared`` library).

The bridge is stateless (docs/he.md, "The Lattigo bridge"): :func:`call` sends an operation,
a parameter preset and a list of byte strings, and returns a list of byte strings. Nothing
is loaded at import time; the library is opened on first use. Errors from Go come back as
:class:`BridgeError` with Lattigo's (secret-free) message.
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
from collections.abc import Sequence
from pathlib import Path

from tulou.errors import ConfigError

_LIB_NAME = "_lattigo.so"


class BridgeError(Exception):
    """A bridge call failed: bad input for the named operation."""


def library_path() -> Path:
    override = os.environ.get("TULOU_LATTIGO_LIB")
    return Path(override) if override else Path(__file__).with_name(_LIB_NAME)


@functools.cache
def _lib() -> ctypes.CDLL:
    path = library_path()
    if not path.is_file():
        raise ConfigError(
            f"the Lattigo bridge {path} is not built: run `make setup` (it needs Go >= 1.23)"
        )
    lib = ctypes.CDLL(str(path))
    lib.tl_call.restype = ctypes.c_int
    lib.tl_call.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    lib.tl_free.restype = None
    lib.tl_free.argtypes = [ctypes.c_void_p]
    return lib


def frame(blobs: Sequence[bytes]) -> bytes:
    """u32 count, then u64 length + bytes per blob (little-endian)."""
    parts = [struct.pack("<I", len(blobs))]
    for blob in blobs:
        parts.append(struct.pack("<Q", len(blob)))
        parts.append(blob)
    return b"".join(parts)


def unframe(data: bytes) -> list[bytes]:
    if len(data) < 4:
        raise BridgeError("truncated frame")
    (count,) = struct.unpack_from("<I", data)
    pos, out = 4, []
    view = memoryview(data)
    for _ in range(count):
        if len(data) - pos < 8:
            raise BridgeError("truncated frame")
        (size,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        if size > len(data) - pos:
            raise BridgeError("truncated frame")
        out.append(bytes(view[pos : pos + size]))
        pos += size
    if pos != len(data):
        raise BridgeError("trailing bytes after frame")
    return out


def call(op: str, preset: str, args: Sequence[bytes]) -> list[bytes]:
    """Run one bridge operation (the Go side releases no state between calls)."""
    lib = _lib()
    data = frame(args)
    out = ctypes.c_void_p()
    size = ctypes.c_size_t()
    status = lib.tl_call(op.encode(), preset.encode(), data, len(data), out, size)
    try:
        raw = ctypes.string_at(out, size.value) if out.value else b""
    finally:
        if out.value:
            lib.tl_free(out)
    if status != 0:
        raise BridgeError(raw.decode(errors="replace"))
    return unframe(raw)


def u64(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}Q", *values)
