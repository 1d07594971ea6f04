"""A short-lived, single-flight cache for the metrics (the dashboard's costliest query).

With ``ttl`` > 0, one computation per key (the window in days, or the window and a form such as
the API's encoded JSON body) serves every request for ``ttl`` seconds, and concurrent requests
for a stale entry wait for one recomputation instead of each running the aggregates (at a
million alerts, 50 dashboards would otherwise run 50 copies of the same scans).
``ttl`` = 0 disables caching (tests, and anyone who needs every number live).

Once an entry exists, a request never waits for a refresh: while one caller recomputes an
expired entry, the others get the previous value (stale-while-revalidate: a value is at most
``ttl`` plus one computation old). Only the very first computation of a key is waited for.

**Kept fresh off the request path.** :meth:`keep_fresh` registers a key with a computation
that needs no request (its own database session). :meth:`warm` computes such a key at once
(the app does it for the default windows at worker start-up); :meth:`start` runs a daemon
thread that recomputes every registered key shortly *before* it expires (lead time: twice the
key's last computation time, at most half the TTL), so with the refresher running no request
finds a registered entry expired and none waits on a computation. A refresh that raises keeps
the last good value (still served by the stale-while-revalidate rule above), is logged, and is
retried after ``min(ttl, 5 s)``. Keys registered with ``pinned=False`` (windows a request asked
for) stop being refreshed after ``idle`` seconds without a read. :attr:`computations` counts
every computation (requests and refresher; tests observe it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a failed refresh waits before the next attempt (at most the TTL).
RETRY_AFTER = 5.0


@dataclass(slots=True)
class _Source:
    compute: Callable[[], Any]
    pinned: bool
    last_read: float
    duration: float = 0.0
    retry_at: float = 0.0


class MetricsCache:
    def __init__(self, ttl: float, *, idle: float = 120.0) -> None:
        self.ttl = ttl
        self.idle = idle
        self.computations = 0  # every computation, by requests or the refresher
        self.refreshes = 0  # successful refresher computations
        self.refresh_errors = 0
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._sources: dict[Hashable, _Source] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def peek(self, days: Hashable) -> Any | None:
        """The fresh cached value for ``days``, or None (never blocks, never computes)."""
        entry = self._entries.get(days)
        if self.ttl > 0 and entry is not None and entry[0] > time.monotonic():
            self._touch(days)
            return entry[1]
        return None

    def expires(self, days: Hashable) -> float | None:
        """When the entry for ``days`` expires (``time.monotonic()``), or None."""
        entry = self._entries.get(days)
        return entry[0] if entry is not None and self.ttl > 0 else None

    def get(self, days: Hashable, compute: Callable[[], Any]) -> Any:
        if self.ttl <= 0:
            self.computations += 1
            return compute()
        self._touch(days)
        entry = self._entries.get(days)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        lock = self._lock(days)
        if entry is not None and not lock.acquire(blocking=False):
            return entry[1]  # someone is refreshing it: the previous value meanwhile
        if entry is None:
            lock.acquire()
        try:
            entry = self._entries.get(days)
            if entry is not None and entry[0] > time.monotonic():
                return entry[1]
            return self._compute(days, compute)
        finally:
            lock.release()

    def keep_fresh(self, days: Hashable, compute: Callable[[], Any], *, pinned: bool) -> None:
        """Let the refresher keep ``days`` fresh with ``compute`` (which must need no request)."""
        if self.ttl <= 0:
            return
        with self._guard:
            source = self._sources.get(days)
            if source is None:
                self._sources[days] = _Source(compute, pinned, time.monotonic())
                self._wake.set()
            elif pinned:
                source.pinned = True

    def warm(self, days: Hashable, compute: Callable[[], Any]) -> Any:
        """Register ``days`` as pinned and compute it now (unless already fresh)."""
        self.keep_fresh(days, compute, pinned=True)
        return self.get(days, compute)

    def refresh_due(self, now: float | None = None) -> float:
        """Recompute every registered key due by ``now``; the seconds until the next one is due.

        The refresher thread's step (tests call it directly). Never raises: a failed
        computation keeps the last good value and is logged.
        """
        now = time.monotonic() if now is None else now
        with self._guard:
            for key in [k for k, s in self._sources.items() if self._abandoned(s, now)]:
                del self._sources[key]
            sources = list(self._sources.items())
        next_due = self.ttl if self.ttl > 0 else 3600.0
        for key, source in sources:
            due = self._due(key, source)
            if due <= now:
                self._refresh(key, source)
                due = self._due(key, source)
                now = time.monotonic()
            next_due = min(next_due, max(due - now, 0.0))
        return next_due

    def start(self) -> None:
        """Start the refresher thread (a daemon; idempotent; nothing to do when ``ttl`` is 0)."""
        if self.ttl <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metrics-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the refresher thread (waits for a running computation up to ``timeout``)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.refresh_due()
            self._wake.wait(max(wait, 0.01))
            self._wake.clear()

    def _due(self, key: Hashable, source: _Source) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return source.retry_at
        lead = min(self.ttl / 2, 2 * source.duration)
        return max(entry[0] - lead, source.retry_at)

    def _abandoned(self, source: _Source, now: float) -> bool:
        return not source.pinned and now - source.last_read > self.idle

    def _refresh(self, key: Hashable, source: _Source) -> None:
        lock = self._lock(key)
        if not lock.acquire(blocking=False):
            return  # a request is computing it right now
        try:
            self._compute(key, source.compute)
        except Exception as exc:  # noqa: BLE001 - a refresh must never kill the refresher
            self.refresh_errors += 1
            source.retry_at = time.monotonic() + min(self.ttl, RETRY_AFTER)
            log.warning(
                "metrics refresh of %r failed (%s: %s); keeping the last good value",
                key,
                type(exc).__name__,
                exc,
            )
            return
        finally:
            lock.release()
        self.refreshes += 1
        source.retry_at = 0.0

    def _compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        self.computations += 1
        started = time.monotonic()
        value = compute()
        done = time.monotonic()
        self._entries[key] = (done + self.ttl, value)
        source = self._sources.get(key)
        if source is not None:
            source.duration = done - started
        return value

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _touch(self, key: Hashable) -> None:
        source = self._sources.get(key)
        if source is not None:
            source.last_read = time.monotonic()
