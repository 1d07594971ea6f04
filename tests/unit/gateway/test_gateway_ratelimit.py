"""Token buckets: burst, refill, all-or-nothing across keys, retry hint, memory sweep."""

from __future__ import annotations

import pytest

from gateway.ratelimit import BucketSpec, RateLimiter


def test_burst_then_refill() -> None:
    limiter = RateLimiter({"ip": BucketSpec(rate=2, burst=3)})
    keys = {"ip": "10.0.0.1"}
    assert [limiter.take(keys, 0.0) for _ in range(3)] == [None, None, None]
    wait = limiter.take(keys, 0.0)
    assert wait == pytest.approx(0.5)
    assert limiter.take(keys, 0.5) is None
    assert limiter.take({"ip": "10.0.0.2"}, 0.5) is None  # other keys are independent


def test_all_buckets_must_have_a_token() -> None:
    limiter = RateLimiter({"subject": BucketSpec(1, 1), "ip": BucketSpec(1, 5)})
    assert limiter.take({"subject": "alice", "ip": "a"}, 0) is None
    assert limiter.take({"subject": "alice", "ip": "a"}, 0) is not None
    # The refused request took nothing from the ip bucket: 4 tokens remain there.
    for _ in range(4):
        assert limiter.take({"subject": None, "ip": "a"}, 0) is None
    assert limiter.take({"subject": None, "ip": "a"}, 0) is not None


def test_sweep_drops_full_buckets() -> None:
    limiter = RateLimiter({"ip": BucketSpec(10, 1)}, max_keys=2)
    limiter.take({"ip": "a"}, 0)
    limiter.take({"ip": "b"}, 0)
    limiter.take({"ip": "c"}, 10)  # a and b are full again: swept
    assert len(limiter._buckets) == 1


def test_bad_spec() -> None:
    with pytest.raises(ValueError):
        BucketSpec(0, 1)
