"""The metrics cache: reuse within the TTL, one computation for concurrent callers, off at 0."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from soc.metrics_cache import MetricsCache


def test_off_computes_every_time():
    calls = []
    cache = MetricsCache(0)
    for _ in range(3):
        cache.get(7, lambda: calls.append(1) or {"n": len(calls)})
    assert len(calls) == 3


def test_single_flight_and_expiry():
    calls = []
    gate = threading.Event()

    def compute():
        calls.append(1)
        gate.wait(5)
        return {"n": len(calls)}

    cache = MetricsCache(0.3)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get, 7, compute) for _ in range(8)]
        time.sleep(0.1)
        gate.set()
        results = [f.result() for f in futures]
    assert len(calls) == 1 and all(r == {"n": 1} for r in results)
    assert cache.get(30, compute) == {"n": 2}  # another window is another entry
    time.sleep(0.35)
    assert cache.get(7, compute) == {"n": 3}


def test_a_refresh_serves_the_previous_value_meanwhile():
    cache = MetricsCache(0.05)
    assert cache.get(7, lambda: "old") == "old"
    time.sleep(0.1)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return "new"

    with ThreadPoolExecutor(2) as pool:
        refreshing = pool.submit(cache.get, 7, slow)
        assert started.wait(5)
        # Expired and being refreshed: the previous value at once, no second computation.
        assert cache.get(7, lambda: "must not run") == "old"
        release.set()
        assert refreshing.result() == "new"
    assert cache.get(7, lambda: "must not run") == "new"
