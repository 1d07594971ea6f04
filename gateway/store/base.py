"""The state seam: what gateway instances share (protocol, errors, the revocation snapshot).

One gateway process keeps its per-request work local; what must be the same on every
instance behind a load balancer goes through a :class:`StateStore`:

- **rate-limit buckets** (``take``: all-or-nothing over several buckets; ``lease``: a batch
  of tokens from one bucket for local spending; ``available``: peek without spending),
  atomic in the store (Redis: one Lua script per call, clocked by the Redis server);
- the **replay cache** (``bind_token``: a token id is bound to the first device or address
  that presented it until it expires; single-use tokens only once);
- **revocations and response blocks** (``revoke``; ``snapshot``; ``subscribe``): token ids,
  subjects, devices and source addresses, permanent or with a time to live (blocks pushed by
  the SOC); every change is published so every instance applies it within a second.

Implementations: ``memory`` (in-process, one instance; also what unit tests of other code use)
and ``redis``. One conformance suite (tests/unit/gateway/store/) runs against both. SSO sessions
(a later issue) fit the same seam as one more key family with a TTL (``tulou:session:<id>``).

Every method may raise :class:`StoreUnavailable`; what the gateway then does is decided per
state kind by the caller (docs/gateway.md, "When the shared state is down").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tulou.errors import TulouError

KINDS = ("tokens", "subjects", "devices", "addresses")


class StoreUnavailable(TulouError):
    """The shared state could not be reached (or answered nonsense); the caller decides."""


@dataclass(frozen=True, slots=True)
class BucketSpec:
    rate: float  # tokens per second
    burst: float  # bucket size

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1) or math.isinf(self.rate):
            raise ValueError("rate must be > 0 and finite, burst >= 1")


@dataclass(frozen=True, slots=True)
class Change:
    """One published revocation or block: ``kind`` in :data:`KINDS`; ``until`` epoch or None."""

    kind: str
    value: str
    until: float | None = None
    removed: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Revoked or blocked values per kind, each with its expiry (epoch seconds, inf = never)."""

    entries: dict[str, dict[str, float]]

    def values(self, kind: str, now: float) -> frozenset[str]:
        return frozenset(v for v, until in self.entries.get(kind, {}).items() if until > now)


@runtime_checkable
class StateStore(Protocol):
    name: str

    def take(self, buckets: Sequence[tuple[str, BucketSpec]], cost: int = 1) -> float | None:
        """Take ``cost`` tokens from every bucket or none; None, or seconds until a retry."""
        ...

    def lease(self, key: str, spec: BucketSpec, want: int) -> tuple[int, float]:
        """Take up to ``want`` tokens from one bucket: (granted, seconds until one more)."""
        ...

    def available(self, key: str, spec: BucketSpec) -> bool:
        """Whether the bucket holds at least one token (nothing is taken)."""
        ...

    def bind_token(self, jti: str, binding: str, ttl: float, single_use: bool) -> bool:
        """Record ``jti`` for ``binding`` for ``ttl`` s. False: replayed (other binding, or
        presented again when single-use)."""
        ...

    def revoke(self, change: Change) -> None:
        """Store ``change`` and publish it to every subscribed instance."""
        ...

    def snapshot(self) -> Snapshot:
        """Every current revocation and block."""
        ...

    def subscribe(self, callback: Callable[[Change], None]) -> None:
        """Call ``callback`` (from any thread) for every published change from now on."""
        ...

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers."""
        ...

    def close(self) -> None: ...


def merge(snapshot: Snapshot, changes: Iterable[Change]) -> Snapshot:
    """``snapshot`` with ``changes`` applied (a new object; snapshots are shared read-only)."""
    entries = {kind: dict(values) for kind, values in snapshot.entries.items()}
    for change in changes:
        values = entries.setdefault(change.kind, {})
        if change.removed:
            values.pop(change.value, None)
        else:
            values[change.value] = math.inf if change.until is None else change.until
    return Snapshot(entries)
