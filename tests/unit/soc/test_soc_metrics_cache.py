"""The metrics cache: reuse within the TTL, one computation for concurrent callers, off at 0."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from soc.metrics_cache import RETRY_AFTER, MetricsCache


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


def test_warm_computes_once_and_later_reads_do_not_compute():
    cache = MetricsCache(60)
    assert cache.warm(7, lambda: "v1") == "v1"
    assert cache.computations == 1
    assert cache.peek(7) == "v1"
    assert cache.get(7, lambda: "must not run") == "v1"
    assert cache.computations == 1


def test_the_refresher_replaces_the_value_before_it_expires():
    values = iter(["v1", "v2", "v3"])
    cache = MetricsCache(0.3)
    cache.warm(7, lambda: next(values))
    cache.start()
    try:
        deadline = time.monotonic() + 5
        while cache.refreshes < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.refreshes >= 1
        # Refreshed ahead of the expiry: a reader always finds a fresh value, never computes.
        assert cache.peek(7) in {"v2", "v3"}
    finally:
        cache.stop()
    assert cache.computations == 1 + cache.refreshes


def test_refresh_due_only_recomputes_what_is_due():
    values = iter(range(100))
    cache = MetricsCache(10)
    cache.warm("a", lambda: next(values))
    now = time.monotonic()
    assert 0 < cache.refresh_due(now) <= 10  # nothing due yet
    assert cache.computations == 1
    assert cache.refresh_due(now + 11) >= 0
    assert cache.refreshes == 1 and cache.computations == 2


def test_a_failing_refresh_keeps_the_last_good_value_and_is_logged(caplog):
    state = {"fail": False}

    def compute():
        if state["fail"]:
            raise RuntimeError("database is down")
        return "good"

    cache = MetricsCache(10)
    cache.warm(7, compute)
    state["fail"] = True
    with caplog.at_level("WARNING", logger="soc.metrics_cache"):
        cache.refresh_due(time.monotonic() + 11)
    assert cache.refresh_errors == 1 and cache.refreshes == 0
    assert "database is down" in caplog.text and "last good value" in caplog.text
    # The entry itself is untouched: still fresh and the same value.
    assert cache.peek(7) == "good"
    # Not retried at once (the retry waits), but retried later, and succeeds.
    state["fail"] = False
    cache.refresh_due(time.monotonic() + 11 + RETRY_AFTER)
    assert cache.refreshes == 1 and cache.peek(7) == "good"


def test_windows_nobody_reads_stop_being_refreshed():
    cache = MetricsCache(10, idle=5)
    cache.keep_fresh("asked", lambda: "x", pinned=False)
    cache.get("asked", lambda: "x")
    cache.warm("default", lambda: "d")
    cache.refresh_due(time.monotonic() + 30)
    assert cache.refreshes == 1  # only the pinned default window; "asked" was dropped
