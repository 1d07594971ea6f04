"""The jti replay check: a bearer token may not wander between devices or be reused when single-use.

A bearer token is presented on every request, so "seen before" alone cannot mean "replayed".
Each ``jti`` is bound to the first *binding* that presented it (the device certificate
fingerprint, or the source address when the client has no certificate) until the token
expires:

- the same token from a different device or address is a replay (a stolen token);
- for issuers marked ``single_use`` any second presentation is a replay.

The binding lives in the shared state (``gateway.store``), so a token stolen and replayed to a
second gateway instance is caught. A binding never changes once made, so each instance
remembers the ones it has confirmed and asks the store only for new tokens (and for every
presentation of a single-use token). With the store down: ``on_down="closed"`` (default)
refuses new tokens with :class:`StoreUnavailable` (503); ``"local"`` binds them in this
process only (a replay through another instance then goes unnoticed), audited once per outage.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.store import MemoryStore, StateStore, StoreUnavailable
from tulou.errors import ReplayError

_CONFIRMED_MAX = 200_000


class ReplayGuard:
    """``check`` raises :class:`ReplayError` (replayed) or :class:`StoreUnavailable`."""

    def __init__(
        self,
        store: StateStore | None = None,
        *,
        on_down: str = "closed",
        on_degraded: Callable[[str], None] | None = None,
        max_entries: int = 1_000_000,
    ) -> None:
        self.store = store if store is not None else MemoryStore(max_tokens=max_entries)
        self.on_down = on_down
        self.on_degraded = on_degraded
        self.local = MemoryStore(max_tokens=max_entries)
        self.degraded = False
        self._confirmed: dict[str, str] = {}

    def check(self, jti: str, binding: str, expires: float, now: float, single_use: bool) -> None:
        """Bind ``jti`` to ``binding`` until ``expires`` (epoch); raise if it is a replay."""
        if not single_use and self._confirmed.get(jti) == binding:
            return
        ttl = max(0.001, expires - now)
        try:
            fresh = self.store.bind_token(jti, binding, ttl, single_use)
            if self.degraded:
                self._notify(False, "replay bindings use the shared state again")
        except StoreUnavailable as exc:
            if self.on_down != "local" or isinstance(self.store, MemoryStore):
                raise
            self._notify(True, f"replay bindings are local to this instance: {exc.message}")
            fresh = self.local.bind_token(jti, binding, ttl, single_use)
        if not fresh:
            if single_use:
                raise ReplayError("single-use token presented again")
            raise ReplayError("token replayed from another device or address")
        if not single_use:
            if len(self._confirmed) >= _CONFIRMED_MAX:
                self._confirmed.clear()
            self._confirmed[jti] = binding

    def _notify(self, degraded: bool, reason: str) -> None:
        if self.degraded != degraded:
            self.degraded = degraded
            if self.on_degraded is not None:
                self.on_degraded(reason)
