"""The CPU features this machine reports, for tests of code that needs some of them.

Tests of a vector kernel carry ``@pytest.mark.cpu("avx2", ...)`` (flag names as in
``/proc/cpuinfo``). Where the CPU lacks a named feature the test is skipped with a reason that
names the missing flags, and the must-not-skip gate (tests/conftest.py) accepts that skip —
because it is decided here from the CPU, not by the test. Any other skip of a protected test
still fails CI, so every kernel the CPU *can* run is exercised.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def cpu_flags() -> frozenset[str]:
    """The ``flags`` line of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "flags:")
    return frozenset(line.split(":", 1)[1].split())


def missing(features: tuple[str, ...]) -> tuple[str, ...]:
    """The features of ``features`` this CPU lacks, in the order given."""
    have = cpu_flags()
    return tuple(f for f in features if f not in have)
