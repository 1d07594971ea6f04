"""Addon: token-bucket rate limits per subject, device and source address (429 + Retry-After)."""

from __future__ import annotations

import math
import time

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.policy import BUILTIN_RATE_LIMITED, Decision
from gateway.ratelimit import BucketSpec, RateLimiter
from gateway.state import Runtime


class RateLimit:
    def __init__(self, runtime: Runtime) -> None:
        limits = runtime.config.rate_limit
        specs = {
            kind: BucketSpec(bucket.rate, bucket.burst)
            for kind, bucket in (
                ("subject", limits.subject),
                ("device", limits.device),
                ("ip", limits.ip),
            )
            if bucket is not None
        }
        self.limiter = RateLimiter(specs)
        self.limited = bool(specs)  # every limit switched off: nothing to take per request

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done or not self.limited:
            return
        keys = {
            "subject": state.identity.subject if state.identity else None,
            "device": state.device.fingerprint if state.device else None,
            "ip": flow.client_conn.peername[0],
        }
        wait = self.limiter.take(keys, time.monotonic())
        if wait is not None:
            decision = Decision.deny(BUILTIN_RATE_LIMITED, "rate limit exceeded", 429)
            deny(flow, state, decision, {"Retry-After": str(max(1, math.ceil(wait)))})
