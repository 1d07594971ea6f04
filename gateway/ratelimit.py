"""Token-bucket rate limiting keyed by subject, device and source address.

Each key has a bucket of ``burst`` tokens refilled at ``rate`` per second; a request takes one
token from every bucket that applies to it (its subject's, its device's, its address's) and is
refused with 429 if any bucket is empty. Buckets idle long enough to be full again are dropped,
so memory follows the number of active clients, not the number ever seen.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BucketSpec:
    rate: float  # tokens per second
    burst: float  # bucket size

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``take(keys, now)`` -> None when allowed, else the seconds until a retry may succeed."""

    def __init__(self, specs: dict[str, BucketSpec], max_keys: int = 200_000) -> None:
        self.specs = specs  # kind ("subject", "device", "ip") -> spec
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def _refill(self, bucket: _Bucket, spec: BucketSpec, now: float) -> None:
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(spec.burst, bucket.tokens + elapsed * spec.rate)
        bucket.updated = now

    def _sweep(self, now: float) -> None:
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.specs[key[0]].rate
            >= self.specs[key[0]].burst
        ]
        for key in full:
            del self._buckets[key]

    def take(self, keys: Mapping[str, str | None], now: float) -> float | None:
        """Take one token from each applicable bucket; all-or-nothing."""
        with self._lock:
            if len(self._buckets) >= self._max_keys:
                self._sweep(now)
            chosen: list[tuple[_Bucket, BucketSpec]] = []
            wait = 0.0
            for kind, value in keys.items():
                spec = self.specs.get(kind)
                if spec is None or value is None:
                    continue
                bucket = self._buckets.get((kind, value))
                if bucket is None:
                    bucket = self._buckets[(kind, value)] = _Bucket(spec.burst, now)
                self._refill(bucket, spec, now)
                if bucket.tokens < 1:
                    wait = max(wait, (1 - bucket.tokens) / spec.rate)
                chosen.append((bucket, spec))
            if wait > 0:
                return wait
            for bucket, _ in chosen:
                bucket.tokens -= 1
            return None
