"""One conformance suite for every StateStore: the in-process one and the real Redis one.

Each test runs twice (``store`` is parametrised): against ``MemoryStore`` and against
``RedisStore`` on the redis-server that tests/fixtures/redis.py starts. Timings use small rates
so a refill is observable within a fraction of a second; nothing asserts a duration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gateway.store import BucketSpec, Change, MemoryStore, StateStore, StoreUnavailable
from gateway.store.redis_store import RedisStore


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    if request.param == "memory":
        made: StateStore = MemoryStore()
    else:
        made = RedisStore(request.getfixturevalue("redis_url"))
    yield made
    made.close()


def test_a_bucket_allows_its_burst_then_refuses_with_a_wait(store: StateStore) -> None:
    spec = BucketSpec(rate=1, burst=3)
    assert [store.take([("ip:a", spec)]) for _ in range(3)] == [None, None, None]
    wait = store.take([("ip:a", spec)])
    assert wait is not None and 0 < wait <= 1.0
    assert store.take([("ip:b", spec)]) is None  # another key has its own bucket


def test_a_bucket_refills_at_its_rate(store: StateStore) -> None:
    spec = BucketSpec(rate=20, burst=1)
    assert store.take([("k", spec)]) is None
    assert store.take([("k", spec)]) is not None
    time.sleep(0.12)  # 20/s: one token back after 50 ms
    assert store.take([("k", spec)]) is None


def test_take_is_all_or_nothing_over_several_buckets(store: StateStore) -> None:
    wide, narrow = BucketSpec(rate=0.01, burst=10), BucketSpec(rate=0.01, burst=1)
    assert store.take([("wide", wide), ("narrow", narrow)]) is None
    assert store.take([("wide", wide), ("narrow", narrow)]) is not None
    # the refused take spent nothing from the wide bucket: 9 of 10 are left
    assert [store.take([("wide", wide)]) for _ in range(9)] == [None] * 9
    assert store.take([("wide", wide)]) is not None


def test_cost_above_one_spends_that_many(store: StateStore) -> None:
    spec = BucketSpec(rate=0.01, burst=5)
    assert store.take([("c", spec)], cost=4) is None
    assert store.take([("c", spec)], cost=2) is not None
    assert store.take([("c", spec)], cost=1) is None


def test_lease_grants_what_is_there_and_peek_spends_nothing(store: StateStore) -> None:
    spec = BucketSpec(rate=0.01, burst=5)
    assert store.available("l", spec)
    assert store.available("l", spec)  # peeking twice takes nothing
    granted, _ = store.lease("l", spec, 3)
    assert granted == 3
    granted, wait = store.lease("l", spec, 3)
    assert granted == 2  # only two were left
    granted, wait = store.lease("l", spec, 3)
    assert granted == 0 and wait > 0
    assert not store.available("l", spec)


def test_concurrent_takes_never_exceed_the_burst(store: StateStore) -> None:
    spec = BucketSpec(rate=0.001, burst=50)
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = RedisStore(store.url) if isinstance(store, RedisStore) else store
        count = sum(1 for _ in range(40) if mine.take([("shared", spec)]) is None)
        with lock:
            allowed.append(count)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50  # 160 attempts, exactly the burst got through


def test_a_token_is_bound_to_its_first_binding(store: StateStore) -> None:
    assert store.bind_token("jti-1", "device-a", 30, single_use=False)
    assert store.bind_token("jti-1", "device-a", 30, single_use=False)  # same device: fine
    assert not store.bind_token("jti-1", "device-b", 30, single_use=False)  # replay
    assert store.bind_token("jti-2", "device-b", 30, single_use=False)


def test_a_single_use_token_is_accepted_once(store: StateStore) -> None:
    assert store.bind_token("once", "device-a", 30, single_use=True)
    assert not store.bind_token("once", "device-a", 30, single_use=True)


def test_a_binding_expires_with_its_token(store: StateStore) -> None:
    assert store.bind_token("short", "a", 0.05, single_use=True)
    time.sleep(0.15)
    assert store.bind_token("short", "b", 30, single_use=True)


def test_revocations_are_stored_published_and_expire(store: StateStore) -> None:
    seen: list[Change] = []
    arrived = threading.Event()

    def listener(change: Change) -> None:
        seen.append(change)
        arrived.set()

    store.subscribe(listener)
    time.sleep(0.2)  # the Redis subscriber thread connects
    store.revoke(Change("subjects", "mallory"))
    store.revoke(Change("addresses", "192.0.2.9", until=time.time() + 0.3))
    assert arrived.wait(2)
    deadline = time.monotonic() + 2
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert {(c.kind, c.value) for c in seen} == {
        ("subjects", "mallory"),
        ("addresses", "192.0.2.9"),
    }
    snapshot = store.snapshot()
    assert snapshot.values("subjects", time.time()) == {"mallory"}
    assert snapshot.values("addresses", time.time()) == {"192.0.2.9"}
    assert snapshot.values("addresses", time.time() + 1) == frozenset()  # the block expires
    store.revoke(Change("subjects", "mallory", removed=True))
    assert store.snapshot().values("subjects", time.time()) == frozenset()


@pytest.mark.redis
def test_redis_down_raises_unavailable_fast_and_recovers(redis_server: object) -> None:
    from tests.fixtures.redis import RedisProcess

    assert isinstance(redis_server, RedisProcess)
    transitions: list[bool] = []
    store = RedisStore(redis_server.url, retry=0.2, on_state=lambda up, _: transitions.append(up))
    spec = BucketSpec(rate=1, burst=5)
    assert store.take([("x", spec)]) is None
    redis_server.stop()
    with pytest.raises(StoreUnavailable):
        store.take([("x", spec)])
    with pytest.raises(StoreUnavailable):  # within the retry window: refused at once
        store.bind_token("j", "a", 10, single_use=False)
    redis_server.start()
    time.sleep(0.25)
    assert store.take([("y", spec)]) is None
    assert transitions == [False, True]
    store.close()
