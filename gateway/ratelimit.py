"""Token-bucket rate limits over the shared state (``gateway.store``), with local leases.

A bucket of ``burst`` tokens refills at ``rate`` per second; a request takes one token from
every bucket that applies to it and is refused (429) if any is empty. The buckets live in the
:class:`~gateway.store.StateStore`, so N instances share one budget per key.

**Leases.** With a shared store, asking it on every request would add a network round trip
to each one; instead an instance takes a small batch of tokens at once (``lease``, at most a
tenth of the burst) and spends them locally, for at most one second (tokens left then are
dropped, never returned or reused). The budget across instances is never exceeded — every
token spent was taken from the shared bucket first — at the price of up to ``lease`` tokens
per key and instance being unused for a second. Small buckets (the authentication-failure
ones) are never leased. The in-process store needs no leases and is asked directly.

**Store down.** ``on_down="local"`` (the default for rate limits) falls back to a bucket of the
same spec in this process (N instances then allow up to N times the budget, as before this
seam existed); ``"closed"`` refuses with 503. ``on_degraded(reason)`` is told once per outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from gateway.store import BucketSpec, MemoryStore, StateStore, StoreUnavailable

Buckets = Sequence[tuple[str, BucketSpec]]
_LEASE_SECONDS = 1.0
_MAX_LOCAL = 100_000


class Limiter:
    def __init__(
        self,
        store: StateStore,
        *,
        lease: int = 32,
        on_down: str = "local",
        on_degraded: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.shared = not isinstance(store, MemoryStore)
        self.lease = lease
        self.on_down = on_down
        self.on_degraded = on_degraded
        self.local = MemoryStore()  # the fallback while the shared store is down
        self.degraded = False
        self._leases: dict[str, list[float]] = {}  # key -> [tokens left, valid until]
        self._empty: dict[str, float] = {}  # key -> until when a peek found it empty
        self._clock = clock

    def _size(self, spec: BucketSpec) -> int:
        return max(1, min(self.lease, int(spec.burst // 10)))

    def _down(self, exc: StoreUnavailable) -> None:
        if self.on_down != "local":
            raise exc
        if not self.degraded:
            self.degraded = True
            if self.on_degraded is not None:
                self.on_degraded(f"rate limits use local buckets: {exc.message}")

    def _up(self) -> None:
        if self.degraded:
            self.degraded = False
            if self.on_degraded is not None:
                self.on_degraded("rate limits use the shared buckets again")

    def take(self, buckets: Buckets) -> float | None:
        """Take one token from every bucket (all or none): None, or seconds to wait."""
        if not buckets:
            return None
        if not self.shared:
            return self.store.take(buckets)
        now = self._clock()
        leases = self._leases
        try:
            for key, spec in buckets:
                held = leases.get(key)
                if held is not None and held[0] >= 1 and held[1] > now:
                    continue
                size = self._size(spec)
                if size == 1:
                    continue  # taken below, in one call with the other unleased buckets
                granted, wait = self.store.lease(key, spec, size)
                if granted == 0:
                    self._up()
                    return wait
                if len(leases) >= _MAX_LOCAL:
                    leases.clear()
                leases[key] = [float(granted), now + _LEASE_SECONDS]
            direct = [(k, s) for k, s in buckets if self._size(s) == 1]
            if direct:
                refused = self.store.take(direct)
                if refused is not None:
                    self._up()
                    return refused
        except StoreUnavailable as exc:
            self._down(exc)
            return self.local.take(buckets)
        self._up()
        for key, spec in buckets:
            if self._size(spec) > 1:
                leases[key][0] -= 1
        return None

    def spend(self, buckets: Buckets) -> None:
        """Take a token from each bucket that has one (failures are counted even when empty)."""
        for bucket in buckets:
            try:
                self.store.take([bucket])
            except StoreUnavailable as exc:
                self._down(exc)
                self.local.take([bucket])

    def available(self, key: str, spec: BucketSpec) -> bool:
        """Whether ``key``'s bucket has a token (nothing spent; empty answers kept 0.25 s)."""
        now = self._clock()
        until = self._empty.get(key)
        if until is not None:
            if until > now:
                return False
            del self._empty[key]
        try:
            found = self.store.available(key, spec)
        except StoreUnavailable as exc:
            self._down(exc)
            found = self.local.available(key, spec)
        if not found:
            if len(self._empty) >= _MAX_LOCAL:
                self._empty.clear()
            self._empty[key] = now + 0.25
        return found
