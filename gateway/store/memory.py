"""The in-process :class:`~gateway.store.base.StateStore`: one gateway instance, no network.

Token buckets refill continuously (``rate`` per second up to ``burst``); buckets idle long
enough to be full again are swept when the table grows past ``max_keys``. The replay table is
bounded too: when full, new token ids are refused (fail closed) rather than forgetting live
ones. Thread-safe (one lock); the clock is injectable for tests.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable, Sequence

from gateway.store.base import BucketSpec, Change, Snapshot, StoreUnavailable, merge


class MemoryStore:
    name = "memory"

    def __init__(
        self,
        *,
        max_keys: int = 200_000,
        max_tokens: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._buckets: dict[str, tuple[float, float, BucketSpec]] = {}  # key -> tokens, at
        self._tokens: dict[str, tuple[str, float]] = {}  # jti -> binding, expires (clock)
        self._expiry: list[tuple[float, str]] = []
        self._snapshot = Snapshot({})
        self._listeners: list[Callable[[Change], None]] = []
        self._max_keys, self._max_tokens = max_keys, max_tokens
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()

    # -- rate limits --------------------------------------------------------------------------
    def _level(self, key: str, spec: BucketSpec, now: float) -> float:
        found = self._buckets.get(key)
        if found is None:
            return spec.burst
        tokens, at, _ = found
        return min(spec.burst, tokens + max(0.0, now - at) * spec.rate)

    def _sweep(self, now: float) -> None:
        full = [
            k
            for k, (_, _, spec) in self._buckets.items()
            if self._level(k, spec, now) >= spec.burst
        ]
        for key in full:
            del self._buckets[key]

    def take(self, buckets: Sequence[tuple[str, BucketSpec]], cost: int = 1) -> float | None:
        with self._lock:
            now = self._clock()
            if len(self._buckets) >= self._max_keys:
                self._sweep(now)
            levels = [(key, spec, self._level(key, spec, now)) for key, spec in buckets]
            wait = max(
                ((cost - level) / spec.rate for _, spec, level in levels if level < cost),
                default=0.0,
            )
            if wait > 0:
                return wait
            for key, spec, level in levels:
                self._buckets[key] = (level - cost, now, spec)
            return None

    def lease(self, key: str, spec: BucketSpec, want: int) -> tuple[int, float]:
        with self._lock:
            now = self._clock()
            level = self._level(key, spec, now)
            granted = min(want, math.floor(level))
            self._buckets[key] = (level - granted, now, spec)
            return granted, max(0.0, (1 - (level - granted)) / spec.rate)

    def available(self, key: str, spec: BucketSpec) -> bool:
        with self._lock:
            return self._level(key, spec, self._clock()) >= 1

    # -- replay ---------------------------------------------------------------------------------
    def bind_token(self, jti: str, binding: str, ttl: float, single_use: bool) -> bool:
        with self._lock:
            now = self._clock()
            while self._expiry and self._expiry[0][0] <= now:
                expires, old = heapq.heappop(self._expiry)
                entry = self._tokens.get(old)
                if entry is not None and entry[1] == expires:
                    del self._tokens[old]
            entry = self._tokens.get(jti)
            if entry is not None:
                return not single_use and entry[0] == binding
            if len(self._tokens) >= self._max_tokens:
                raise StoreUnavailable(
                    "replay cache is full; refusing new tokens until some expire"
                )
            expires = now + max(ttl, 0.001)
            self._tokens[jti] = (binding, expires)
            heapq.heappush(self._expiry, (expires, jti))
            return True

    # -- revocations and blocks -----------------------------------------------------------------
    def revoke(self, change: Change) -> None:
        with self._lock:
            self._snapshot = merge(self._snapshot, [change])
            listeners = tuple(self._listeners)
        for listener in listeners:
            listener(change)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def subscribe(self, callback: Callable[[Change], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._listeners.clear()
