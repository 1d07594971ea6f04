"""Rate limits over the state store: local leases never exceed the shared budget; outages.

Two ``Limiter`` objects on one Redis are two gateway instances sharing one budget.
"""

from __future__ import annotations

import pytest

from gateway.ratelimit import Limiter
from gateway.store import BucketSpec, MemoryStore, StoreUnavailable
from gateway.store.redis_store import RedisStore


def test_in_process_buckets_allow_the_burst_then_refuse() -> None:
    limiter = Limiter(MemoryStore())
    spec = BucketSpec(rate=0.01, burst=3)
    assert [limiter.take([("ip:a", spec)]) for _ in range(3)] == [None, None, None]
    wait = limiter.take([("ip:a", spec)])
    assert wait is not None and wait > 0


@pytest.mark.redis
def test_two_instances_share_one_budget(redis_url: str) -> None:
    spec = BucketSpec(rate=0.001, burst=80)  # leases of 8 tokens
    first, second = Limiter(RedisStore(redis_url)), Limiter(RedisStore(redis_url))
    allowed = 0
    for _ in range(100):
        allowed += first.take([("ip:x", spec)]) is None
        allowed += second.take([("ip:x", spec)]) is None
    # never more than the burst; at most one unspent lease per instance is lost
    assert 80 - 2 * 8 < allowed <= 80


@pytest.mark.redis
def test_small_buckets_are_not_leased(redis_url: str) -> None:
    spec = BucketSpec(rate=0.001, burst=5)
    first, second = Limiter(RedisStore(redis_url)), Limiter(RedisStore(redis_url))
    results = [(first if i % 2 else second).take([("authfail:ip:y", spec)]) for i in range(8)]
    assert results[:5] == [None] * 5 and all(r is not None for r in results[5:])


@pytest.mark.redis
def test_store_down_falls_back_to_local_buckets_or_refuses(redis_server: object) -> None:
    from tests.fixtures.redis import RedisProcess

    assert isinstance(redis_server, RedisProcess)
    if redis_server.process is None:
        redis_server.start()
    notes: list[str] = []
    degrading = Limiter(RedisStore(redis_server.url, retry=0.1), on_degraded=notes.append)
    closing = Limiter(RedisStore(redis_server.url), on_down="closed")
    spec = BucketSpec(rate=0.001, burst=2)
    redis_server.stop()
    try:
        assert degrading.take([("k", spec)]) is None  # local bucket of the same spec
        assert degrading.take([("k", spec)]) is None
        assert degrading.take([("k", spec)]) is not None
        with pytest.raises(StoreUnavailable):
            closing.take([("k", spec)])
    finally:
        redis_server.start()
    import time

    time.sleep(0.15)
    assert degrading.take([("fresh", spec)]) is None
    assert notes == [notes[0], notes[1]] and "local" in notes[0] and "shared" in notes[1]
