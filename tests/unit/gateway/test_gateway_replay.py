"""The jti replay guard over the state store: bindings, single use, expiry, N instances, outages.

Two ``ReplayGuard`` objects on one Redis are two gateway instances: a token bound on one is a
replay on the other. The in-process store gives the single-instance behaviour (and fails
closed when full).
"""

from __future__ import annotations

import time

import pytest

from gateway.replay import ReplayGuard
from gateway.store import MemoryStore, StoreUnavailable
from gateway.store.redis_store import RedisStore
from tulou.errors import ReplayError


def test_binding_and_single_use() -> None:
    guard = ReplayGuard(MemoryStore())
    guard.check("j1", "device-a", expires=100, now=0, single_use=False)
    guard.check("j1", "device-a", expires=100, now=1, single_use=False)
    with pytest.raises(ReplayError, match="another device"):
        guard.check("j1", "device-b", expires=100, now=2, single_use=False)
    guard.check("j2", "device-a", expires=100, now=0, single_use=True)
    with pytest.raises(ReplayError, match="single-use"):
        guard.check("j2", "device-a", expires=100, now=1, single_use=True)


def test_bindings_expire_with_their_token() -> None:
    guard = ReplayGuard(MemoryStore())
    now = time.time()
    guard.check("j", "a", expires=now + 0.05, now=now, single_use=True)
    time.sleep(0.1)
    guard.check("j", "b", expires=time.time() + 60, now=time.time(), single_use=True)


def test_a_full_table_fails_closed() -> None:
    guard = ReplayGuard(MemoryStore(max_tokens=2))
    guard.check("a", "x", expires=100, now=0, single_use=False)
    guard.check("b", "x", expires=100, now=0, single_use=False)
    with pytest.raises(StoreUnavailable, match="full"):
        guard.check("c", "x", expires=100, now=0, single_use=False)


@pytest.mark.redis
def test_a_token_replayed_to_another_instance_is_refused(redis_url: str) -> None:
    first, second = ReplayGuard(RedisStore(redis_url)), ReplayGuard(RedisStore(redis_url))
    now = time.time()
    first.check("stolen", "alice-laptop", expires=now + 60, now=now, single_use=False)
    first.check("stolen", "alice-laptop", expires=now + 60, now=now, single_use=False)
    with pytest.raises(ReplayError, match="another device"):
        second.check("stolen", "mallory-laptop", expires=now + 60, now=now, single_use=False)
    second.check("stolen", "alice-laptop", expires=now + 60, now=now, single_use=False)
    first.check("once", "a", expires=now + 60, now=now, single_use=True)
    with pytest.raises(ReplayError, match="single-use"):
        second.check("once", "a", expires=now + 60, now=now, single_use=True)


@pytest.mark.redis
def test_store_down_fails_closed_or_binds_locally_as_configured(redis_server: object) -> None:
    from tests.fixtures.redis import RedisProcess

    assert isinstance(redis_server, RedisProcess)
    if redis_server.process is None:
        redis_server.start()
    notes: list[str] = []
    closed = ReplayGuard(RedisStore(redis_server.url))
    local = ReplayGuard(RedisStore(redis_server.url), on_down="local", on_degraded=notes.append)
    now = time.time()
    closed.check("known", "a", expires=now + 60, now=now, single_use=False)
    redis_server.stop()
    try:
        # a binding this instance confirmed needs no store; a new token does
        closed.check("known", "a", expires=now + 60, now=now, single_use=False)
        with pytest.raises(StoreUnavailable):
            closed.check("new", "a", expires=now + 60, now=now, single_use=False)
        local.check("new", "a", expires=now + 60, now=now, single_use=False)
        with pytest.raises(ReplayError):
            local.check("new", "b", expires=now + 60, now=now, single_use=False)
        assert len(notes) == 1 and "local" in notes[0]
    finally:
        redis_server.start()
