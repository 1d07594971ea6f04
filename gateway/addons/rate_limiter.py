"""Addon: token-bucket rate limits per subject and device (429 + Retry-After).

The per-address bucket is spent earlier, by ``Shield``, on every request before any check
(denied requests included); this addon spends the buckets that need an identity. Buckets are
shared by all instances through the state store (``gateway.ratelimit.Limiter``).
"""

from __future__ import annotations

import math

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.policy import BUILTIN_RATE_LIMITED, Decision
from gateway.ratelimit import Limiter
from gateway.state import Runtime
from gateway.store import BucketSpec


def limited(flow: http.HTTPFlow, wait: float) -> None:
    """Deny ``flow`` with 429 and a Retry-After of at least one second."""
    state = state_of(flow)
    assert state is not None
    decision = Decision.deny(BUILTIN_RATE_LIMITED, "rate limit exceeded", 429)
    deny(flow, state, decision, {"Retry-After": str(max(1, math.ceil(wait)))})


class RateLimit:
    def __init__(self, runtime: Runtime) -> None:
        limits = runtime.config.rate_limit
        self.subject = (
            BucketSpec(limits.subject.rate, limits.subject.burst) if limits.subject else None
        )
        self.device = BucketSpec(limits.device.rate, limits.device.burst) if limits.device else None
        self.runtime = runtime

    @property
    def limiter(self) -> Limiter:
        limiter = self.runtime.limiter
        assert limiter is not None, "the runner sets the limiter before serving"
        return limiter

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        buckets: list[tuple[str, BucketSpec]] = []
        if self.subject is not None and state.identity is not None:
            buckets.append((f"sub:{state.identity.subject}", self.subject))
        if self.device is not None and state.device is not None:
            buckets.append((f"dev:{state.device.fingerprint}", self.device))
        if buckets:
            wait = self.limiter.take(buckets)
            if wait is not None:
                limited(flow, wait)
