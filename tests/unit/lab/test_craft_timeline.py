"""Stamps spread from now and the wait that keeps them from being in the future."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from lab.craft.timeline import spread, wait_until


def test_spread_is_even_and_bounded() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    moments = spread(start, 5, 2.0)
    assert moments[0] == start and moments[-1] == start + timedelta(seconds=2)
    assert {b - a for a, b in pairwise(moments)} == {timedelta(seconds=0.5)}
    assert spread(start, 1, 9.0) == [start]
    assert spread(start, 0, 9.0) == []


def test_wait_until_returns_once_the_moment_has_passed() -> None:
    target = datetime.now(UTC) + timedelta(milliseconds=150)
    wait_until(target)
    assert datetime.now(UTC) >= target
    wait_until(datetime(2000, 1, 1, tzinfo=UTC))  # the past: returns at once
