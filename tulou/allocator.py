"""Keep large buffers in the process heap: fewer page faults for bulk work (glibc only).

glibc's ``malloc`` serves a request above ``M_MMAP_THRESHOLD`` with a fresh ``mmap`` and
returns it with ``munmap`` on ``free``. Backup, restore and verify allocate and free a few
hundred KiB to several MiB per blob (chunks, sealed and compressed copies, decompressed
plaintext), so every blob's buffers were new pages: ~150,000 minor page faults and ~0.3 s of
kernel time per 400 MB restored (docs/performance.md, backup round 3). Raising the mmap
threshold and the trim threshold makes freed buffers stay in the heap and be reused.

The cost is memory kept after a peak (at most the trim threshold above what is in use); it is
applied only by the bulk-data commands that call :func:`keep_large_buffers`. On other C
libraries (or if ``mallopt`` is missing) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Requests up to this size come from the heap (glibc caps the value at 32 MiB on 64-bit).
MMAP_THRESHOLD = 32 << 20
#: Free heap memory above this is returned to the OS.
TRIM_THRESHOLD = 256 << 20

_applied = False


def keep_large_buffers() -> bool:
    """Apply the thresholds once per process; True if they are in effect."""
    global _applied  # noqa: PLW0603 - a process-wide setting, applied once
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _applied
