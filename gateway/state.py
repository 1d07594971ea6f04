"""What the addons share: the per-request state and the per-process runtime.

The addons run in a fixed order on every request (``gateway.addons.gateway_addons``). Each
reads and extends the :class:`RequestState` stored in ``flow.metadata`` under ``STATE_KEY``; the
first addon that denies sets ``state.decision`` and a response, and the later ones do nothing.
:class:`Runtime` holds what lives as long as the process: config, audit log, metrics, and
the currently loaded (hot-reloadable) policy, verifiers and lists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.audit import AuditLog, now, state_event
from gateway.metrics import Metrics
from gateway.policy import Decision, DevicePosture, Policy
from gateway.ratelimit import Limiter
from gateway.replay import ReplayGuard
from gateway.revocation import Revocations
from gateway.store import MemoryStore, StateStore

if TYPE_CHECKING:
    from gateway.config import GatewayConfig, Route
    from gateway.devices import DeviceVerifier, VerifiedDevice
    from gateway.inventory import Inventory
    from gateway.tokens import Identity, TokenVerifier

STATE_KEY = "tulou"


@dataclass(slots=True)
class RequestState:
    started_ns: int = field(default_factory=time.perf_counter_ns)
    moment: datetime = field(default_factory=now)
    request_id: str = ""  # the flow id without dashes (X-Tulou-Request-Id, event.id)
    # Read by Sanitizer in its one pass over the request headers (``sanitized`` = it did, and
    # removed every identity/forwarding header and Authorization from the upstream request):
    sanitized: bool = False
    host_header: str | None = None  # the client's single Host header, as sent
    authorization: tuple[str, ...] = ()  # every Authorization header value, as sent
    user_agent: str | None = None  # User-Agent values joined like mitmproxy's headers.get
    host: str = ""
    path: str = ""
    route: Route | None = None
    device_present: bool = False
    device: VerifiedDevice | None = None
    owners: frozenset[str] = frozenset()
    posture: DevicePosture | None = None
    token_checked: bool = False
    identity: Identity | None = None
    decision: Decision | None = None
    decision_ns: int = 0
    sealed: bool = False  # the body was sealed / opened with the envelope
    audited: bool = False
    in_head: bool = False  # the flow is in ``requestheaders``: its body has not been read
    failure: str | None = None  # an addon raised on this flow: what and where (fail closed)
    claimed_subject: str | None = None  # the unverified ``sub`` of a token that failed

    @property
    def done(self) -> bool:
        return self.decision is not None and not self.decision.allowed


@dataclass
class Runtime:
    """Process-wide state. Reloads replace whole objects, so readers never see half a reload."""

    config: GatewayConfig
    audit: AuditLog
    metrics: Metrics = field(default_factory=Metrics)
    policy: Policy | None = None
    tokens: TokenVerifier | None = None
    devices: DeviceVerifier | None = None
    inventory: Inventory | None = None
    revocations: Revocations = field(default_factory=Revocations)
    ready: bool = False
    draining: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
    # Bumped by every successful reload (policy, issuers, revocations, inventory): caches
    # derived from loaded state compare it and drop themselves when it moved.
    generation: int = 0
    # The state shared by instances (gateway.store), and what is built on it.
    store: StateStore = field(default_factory=MemoryStore)
    limiter: Limiter | None = None
    replay: ReplayGuard | None = None
    file_revocations: Revocations = field(default_factory=Revocations)
    shared_revocations: Revocations = field(default_factory=Revocations)
    # time.monotonic() of the last complete revocation sync with the store (None: never).
    state_synced: float | None = None
    shared: bool = False  # the store is shared with other instances (not in-process)

    def __post_init__(self) -> None:
        section = self.config.state
        self.shared = not isinstance(self.store, MemoryStore)
        if self.limiter is None:
            self.limiter = Limiter(
                self.store,
                lease=self.config.rate_limit.lease,
                on_down=section.on_down.rate_limits,
                on_degraded=lambda reason: self.state_changed("rate_limits", reason),
            )
        if self.replay is None:
            self.replay = ReplayGuard(
                self.store,
                on_down=section.on_down.replay,
                on_degraded=lambda reason: self.state_changed("replay", reason),
                max_entries=self.config.identity.replay_cache_size,
            )

    def reloaded(self) -> None:
        """Record a successful reload: every generation-keyed cache is dropped on next use."""
        self.generation += 1

    def state_changed(self, kind: str, reason: str, *, up: bool | None = None) -> None:
        """Audit a change of the shared state's health (one line per transition)."""
        self.audit.write(state_event(now(), kind=kind, reason=reason, up=up))
        self.metrics.inc(
            "tulou_gateway_state_transitions_total", "Shared state transitions.", kind=kind
        )

    def revocations_stale(self) -> bool:
        """True when revocations fail closed: shared, and not synced for too long."""
        if not self.shared or self.config.state.on_down.revocations != "closed":
            return False
        synced = self.state_synced
        staleness = self.config.state.revocation_staleness
        return synced is None or time.monotonic() - synced > staleness

    def apply_revocations(
        self, file: Revocations | None = None, shared: Revocations | None = None
    ) -> Revocations:
        """Replace one source of revocations; the union is what every check reads."""
        if file is not None:
            self.file_revocations = file
        if shared is not None:
            self.shared_revocations = shared
        self.revocations = self.file_revocations.union(self.shared_revocations)
        if self.tokens is not None:
            self.tokens.revocations = self.revocations
        return self.revocations

    @property
    def is_ready(self) -> bool:
        loaded = self.policy is not None and self.tokens is not None and self.devices is not None
        return self.ready and loaded and not self.draining
