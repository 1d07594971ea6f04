"""A short-lived, single-flight cache for the metrics (the dashboard's costliest query).

With ``ttl`` > 0, one computation per key (the window in days, or the window and a form such as
the API's encoded JSON body) serves every request for ``ttl`` seconds, and concurrent requests
for a stale entry wait for one recomputation instead of each running the aggregates (at a
million alerts, 50 dashboards would otherwise run 50 copies of the same scans).
``ttl`` = 0 disables caching (tests, and anyone who needs every number live).

Once an entry exists, a refresh never makes callers wait: while one caller recomputes an
expired entry, the others get the previous value (so a value is at most ``ttl`` plus one
computation old). Only the very first computation of a key is waited for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class MetricsCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def peek(self, days: Hashable) -> Any | None:
        """The fresh cached value for ``days``, or None (never blocks, never computes)."""
        entry = self._entries.get(days)
        if self.ttl > 0 and entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    def expires(self, days: Hashable) -> float | None:
        """When the entry for ``days`` expires (``time.monotonic()``), or None."""
        entry = self._entries.get(days)
        return entry[0] if entry is not None and self.ttl > 0 else None

    def get(self, days: Hashable, compute: Callable[[], Any]) -> Any:
        if self.ttl <= 0:
            return compute()
        entry = self._entries.get(days)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        with self._guard:
            lock = self._locks.setdefault(days, threading.Lock())
        if entry is not None and not lock.acquire(blocking=False):
            return entry[1]  # someone is refreshing it: the previous value meanwhile
        if entry is None:
            lock.acquire()
        try:
            entry = self._entries.get(days)
            if entry is not None and entry[0] > time.monotonic():
                return entry[1]
            value = compute()
            self._entries[days] = (time.monotonic() + self.ttl, value)
            return value
        finally:
            lock.release()
