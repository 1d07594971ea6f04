"""keep_large_buffers: freed multi-MiB buffers are reused instead of mapped afresh."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tulou import allocator

# As a restore does: two worker threads, each with rounds of buffers of 0.5-8 MiB alive
# together (sealed, decompressed), then freed; every page touched. Prints the minor faults.
_CHURN = """
import resource, sys, threading
from tulou.allocator import keep_large_buffers
if sys.argv[1] == "on":
    assert keep_large_buffers()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def work(seed):
    for i in range(40):
        bufs = [bytearray(((n * 7 + seed) % 16 + 1) << 19) for n in range(i, i + 6)]
        for b in bufs:
            b[::4096] = b"x" * len(b[::4096])
        del bufs
threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_large_buffers_are_reused_not_refaulted() -> None:
    off, on = _faults("off"), _faults("on")
    # Without it glibc maps many buffers afresh or trims the heap after a round, so their pages
    # fault in again (measured here: 67,000-96,000 faults off, ~20,000 on).
    assert on * 2 < off


def test_applying_twice_is_harmless() -> None:
    first = allocator.keep_large_buffers()
    assert allocator.keep_large_buffers() == first
