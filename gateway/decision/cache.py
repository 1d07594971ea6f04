"""The decision cache: what a request's facts decided, for at most ``ttl`` seconds.

Key (built by the decision point): the SHA-256 of the Authorization values (never the token
itself), the client certificate, the source address, the request line as sent (method, raw
target, version), the Host values, and the front fields that decide framing (Connection,
declared length, chunked, TLS). Two requests that differ in anything the decision reads never
share an entry; the key holds more than the issue's minimum (token, device, route, method,
canonical path) because the replay binding and ``networks`` rules read the source address.

Bounds: an entry lives ``min(ttl, token expiry)``; the whole cache is dropped whenever the
runtime's generation moves (any reload of policy, issuers, revocations, inventory, or a
revocation/block applied from the shared state), so a revocation is enforced on the next
request after it reaches this instance, and ``ttl`` (<= 1 s) bounds what changes without a
reload: policy time windows and posture freshness. What is never cached: rate-limit
refusals, 503s, 500s, single-use tokens, replays. Per request even on a hit: address blocks,
header count and validity, the subject/device buckets and the authentication-failure buckets
(so a flood of one forged token still empties them exactly as on the mitmproxy plane), the
assertion's reuse window and the audit fragment.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any


class DecisionCache:
    """A bounded dict of ``key -> (valid until (monotonic), outcome)``; cleared when full."""

    def __init__(self, ttl: float, size: int = 65_536) -> None:
        if not 0 < ttl <= 1.0:
            raise ValueError("the decision cache ttl must be in (0, 1] seconds")
        self.ttl = ttl
        self.size = size
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        found = self._entries.get(key)
        if found is not None and found[0] > time.monotonic():
            self.hits += 1
            return found[1]
        self.misses += 1
        return None

    def put(self, key: Hashable, outcome: Any, expires: float = float("inf")) -> None:
        """Remember ``outcome`` for ``ttl`` s, or until ``expires`` (epoch) if sooner."""
        now = time.monotonic()
        until = now + min(self.ttl, max(0.0, expires - time.time()))
        if until <= now:
            return
        if len(self._entries) >= self.size:
            self._entries.clear()  # bounded; an attacker's variety only costs refills
        self._entries[key] = (until, outcome)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
