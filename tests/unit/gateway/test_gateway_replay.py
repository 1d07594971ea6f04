"""The jti replay cache: bindings, single use, expiry, and failing closed when full."""

from __future__ import annotations

import pytest

from gateway.replay import ReplayCache
from tulou.errors import ReplayError


def test_binding_and_single_use() -> None:
    cache = ReplayCache()
    cache.check("j1", "device-a", expires=100, now=0, single_use=False)
    cache.check("j1", "device-a", expires=100, now=1, single_use=False)
    with pytest.raises(ReplayError, match="another device"):
        cache.check("j1", "device-b", expires=100, now=2, single_use=False)
    cache.check("j2", "device-a", expires=100, now=0, single_use=True)
    with pytest.raises(ReplayError, match="single-use"):
        cache.check("j2", "device-a", expires=100, now=1, single_use=True)


def test_entries_expire_with_their_token() -> None:
    cache = ReplayCache()
    cache.check("j", "a", expires=10, now=0, single_use=True)
    assert len(cache) == 1
    cache.check("other", "a", expires=50, now=11, single_use=True)
    assert len(cache) == 1  # j was purged
    cache.check("j", "b", expires=60, now=12, single_use=True)


def test_full_cache_fails_closed() -> None:
    cache = ReplayCache(max_entries=2)
    cache.check("a", "x", expires=100, now=0, single_use=False)
    cache.check("b", "x", expires=100, now=0, single_use=False)
    with pytest.raises(ReplayError, match="full"):
        cache.check("c", "x", expires=100, now=0, single_use=False)
    cache.check("d", "x", expires=200, now=100, single_use=False)  # a and b expired
