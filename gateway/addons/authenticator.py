"""Addon: verify the bearer token (option ``tulou_issuers`` names the issuers file).

No ``Authorization`` header means an anonymous request (policy decides). A header that is not a
single ``Bearer`` token, or a token that fails any check of :mod:`gateway.tokens`, is denied at
once with ``builtin:invalid-token`` (401), or ``builtin:revoked`` (403) for a revoked token or
subject. The issuers file is hot-reloaded; a broken one raises ``OptionsError`` and the last
good key set stays in force.
"""

from __future__ import annotations

from pathlib import Path

from mitmproxy import http
from mitmproxy.addonmanager import Loader

from gateway.addons._common import deny, options_error, state_of
from gateway.addons._headers import rewrite
from gateway.issuers import load_issuers
from gateway.policy import BUILTIN_INVALID_TOKEN, BUILTIN_REVOKED, Decision
from gateway.replay import ReplayCache
from gateway.state import Runtime
from gateway.tokens import TokenError, TokenVerifier
from tulou.errors import ConfigError

_AUTHORIZATION = frozenset({b"authorization"})


class Authenticator:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.replay = ReplayCache(runtime.config.identity.replay_cache_size)

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
            replay=self.replay,
        )
        self.runtime.reloaded()
        self.runtime.metrics.inc(
            "tulou_gateway_reloads_total", "Hot reloads.", file="issuers", result="ok"
        )

    def request(self, flow: http.HTTPFlow) -> None:
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
            deny(flow, state, Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401))
            return
        if verifier is None:
            deny(flow, state, Decision.deny(BUILTIN_INVALID_TOKEN, "no issuers loaded", 401))
            return
        binding = state.device.fingerprint if state.device else flow.client_conn.peername[0]
        try:
            state.identity = verifier.verify(parts[1], binding=binding)
        except TokenError as exc:
            if exc.code == "revoked":
                deny(flow, state, Decision.deny(BUILTIN_REVOKED, exc.message, 403))
            else:
                reason = f"token refused ({exc.code}): {exc.message}"
                deny(flow, state, Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401))
            return
        if not state.sanitized:
            # The token travels no further: the upstream gets the signed identity assertion.
            rewrite(flow.request.headers, _AUTHORIZATION)
