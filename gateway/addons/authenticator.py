"""Addon: verify the bearer token (option ``tulou_issuers`` names the issuers file).

No ``Authorization`` header means an anonymous request (policy decides). A header that is not a
single ``Bearer`` token, or a token that fails any check of :mod:`gateway.tokens`, is denied at
once with ``builtin:invalid-token`` (401), or ``builtin:revoked`` (403) for a revoked token or
subject. The issuers file is hot-reloaded; a broken one raises ``OptionsError`` and the last
good key set stays in force.

**Guessing is throttled before it costs anything.** Every failed authentication spends a token
from two small buckets (``rate_limit.auth_failure``): the source address's and the claimed
subject's (the token's unverified ``sub``). A token not already verified is refused with 429
while either bucket is empty — before its signature is checked — so a flood of forged tokens
costs the gateway a bucket lookup each, not a signature verification. (A valid token verified
earlier is not held back: it proves itself without new work. Throttling per claimed subject
lets an attacker slow down a victim's *new* logins; that is the price of bounding guesses.)

**Shared state down.** The replay binding (``StoreUnavailable``) and revocations that may be
stale (``Runtime.revocations_stale``) fail closed by default with ``builtin:state-unavailable``
(503); ``state.on_down`` chooses otherwise (docs/gateway.md).
"""

from __future__ import annotations

from pathlib import Path

from mitmproxy import http
from mitmproxy.addonmanager import Loader

from gateway.addons._common import deny, options_error, state_of
from gateway.addons._headers import rewrite
from gateway.addons.rate_limiter import limited
from gateway.issuers import load_issuers
from gateway.policy import (
    BUILTIN_INVALID_TOKEN,
    BUILTIN_REVOKED,
    BUILTIN_STATE_UNAVAILABLE,
    Decision,
)
from gateway.state import RequestState, Runtime
from gateway.store import BucketSpec, StoreUnavailable
from gateway.tokens import TokenError, TokenVerifier, claimed_subject
from tulou.errors import ConfigError

_AUTHORIZATION = frozenset({b"authorization"})


class Authenticator:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        bucket = runtime.config.rate_limit.auth_failure
        self.failures = BucketSpec(bucket.rate, bucket.burst) if bucket else None
        self.max_token = runtime.config.limits.max_token_bytes

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "tulou_issuers",
            str,
            "",
            "Trusted token issuers and their pinned keys (YAML). Re-read when it changes; "
            "a broken file keeps the last good key set.",
        )

    def configure(self, updated: set[str]) -> None:
        if "tulou_issuers" not in updated:
            return
        from mitmproxy import ctx  # noqa: PLC0415

        try:
            if not ctx.options.tulou_issuers:
                raise ConfigError("tulou_issuers is not set")
            issuers = load_issuers(Path(ctx.options.tulou_issuers))
        except ConfigError as exc:
            self.runtime.metrics.inc(
                "tulou_gateway_reloads_total", "Hot reloads.", file="issuers", result="failed"
            )
            raise options_error(f"issuers not loaded: {exc}") from None
        self.runtime.tokens = TokenVerifier(
            issuers,
            leeway=self.runtime.config.identity.leeway,
            revocations=self.runtime.revocations,
            replay=self.runtime.replay,
        )
        self.runtime.reloaded()
        self.runtime.metrics.inc(
            "tulou_gateway_reloads_total", "Hot reloads.", file="issuers", result="ok"
        )

    def _failure_buckets(
        self, flow: http.HTTPFlow, state: RequestState
    ) -> list[tuple[str, BucketSpec]]:
        if self.failures is None:
            return []
        buckets = [(f"authfail:ip:{flow.client_conn.peername[0]}", self.failures)]
        if state.claimed_subject is not None:
            buckets.append((f"authfail:sub:{state.claimed_subject}", self.failures))
        return buckets

    def _refuse(self, flow: http.HTTPFlow, state: RequestState, decision: Decision) -> None:
        """A failed authentication: spend the failure buckets, then deny."""
        assert self.runtime.limiter is not None
        self.runtime.limiter.spend(self._failure_buckets(flow, state))
        deny(flow, state, decision)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        # Sanitizer read (and removed) them in its pass over the headers; without it, read here.
        headers = (
            state.authorization
            if state.sanitized
            else flow.request.headers.get_all("authorization")
        )
        if not headers:
            return
        state.token_checked = True
        verifier = self.runtime.tokens
        parts = headers[0].split(" ")
        if len(headers) != 1 or len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1]:
            reason = "Authorization must be exactly one 'Bearer <token>'"
            self._refuse(flow, state, Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401))
            return
        token = parts[1]
        if verifier is None:
            deny(flow, state, Decision.deny(BUILTIN_INVALID_TOKEN, "no issuers loaded", 401))
            return
        if len(token) > self.max_token:
            reason = f"token longer than {self.max_token} bytes"
            self._refuse(flow, state, Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401))
            return
        if self.runtime.revocations_stale():
            reason = "revocations cannot be confirmed: the shared state is unreachable"
            deny(flow, state, Decision.deny(BUILTIN_STATE_UNAVAILABLE, reason, 503))
            return
        if not verifier.is_cached(token):
            state.claimed_subject = claimed_subject(token)
            limiter = self.runtime.limiter
            assert limiter is not None
            for key, spec in self._failure_buckets(flow, state):
                if not limiter.available(key, spec):
                    limited(flow, 1 / spec.rate)
                    return
        binding = state.device.fingerprint if state.device else flow.client_conn.peername[0]
        try:
            state.identity = verifier.verify(token, binding=binding)
        except StoreUnavailable as exc:
            reason = f"replay check unavailable: {exc.message}"
            deny(flow, state, Decision.deny(BUILTIN_STATE_UNAVAILABLE, reason, 503))
            return
        except TokenError as exc:
            if exc.code == "revoked":
                deny(flow, state, Decision.deny(BUILTIN_REVOKED, exc.message, 403))
            else:
                reason = f"token refused ({exc.code}): {exc.message}"
                self._refuse(flow, state, Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401))
            return
        if not state.sanitized:
            # The token travels no further: the upstream gets the signed identity assertion.
            rewrite(flow.request.headers, _AUTHORIZATION)
