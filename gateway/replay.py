"""The jti replay cache: a bearer token may not wander between devices or be reused when single-use.

A bearer token is presented on every request, so "seen before" alone cannot mean "replayed".
The cache binds each ``jti`` to the first *binding* that presented it (the device certificate
fingerprint, or the source address when the client has no certificate) until the token expires:

- the same token from a different device or address is a replay (a stolen token);
- for issuers marked ``single_use`` any second presentation is a replay.

Memory is bounded: entries expire with their token, and a full cache refuses new tokens (fail
closed) rather than forgetting live ones.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass

from tulou.errors import ReplayError


@dataclass(slots=True)
class _Entry:
    binding: str
    expires: float


class ReplayCache:
    """Thread-safe. ``check`` raises :class:`ReplayError`; otherwise it records the jti."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._entries: dict[str, _Entry] = {}
        self._expiry: list[tuple[float, str]] = []
        self._max = max_entries
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            expires, jti = heapq.heappop(self._expiry)
            entry = self._entries.get(jti)
            if entry is not None and entry.expires == expires:
                del self._entries[jti]

    def check(self, jti: str, binding: str, expires: float, now: float, single_use: bool) -> None:
        """Record ``jti`` for ``binding`` until ``expires``; raise if it is a replay."""
        with self._lock:
            self._purge(now)
            entry = self._entries.get(jti)
            if entry is not None:
                if single_use:
                    raise ReplayError("single-use token presented again")
                if entry.binding != binding:
                    raise ReplayError("token replayed from another device or address")
                return
            if len(self._entries) >= self._max:
                raise ReplayError("replay cache is full; refusing new tokens until some expire")
            self._entries[jti] = _Entry(binding, expires)
            heapq.heappush(self._expiry, (expires, jti))
