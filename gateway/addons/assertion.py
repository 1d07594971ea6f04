"""Addon: add the SM2-signed identity assertion header (see :mod:`gateway.assertion`).

Only for allowed requests on routes with ``assertion: true``; the header name was already
stripped from the client's request by ``Sanitizer``, so an upstream never sees a forged one.
Signed assertions are reused for identical claims (``AssertionSigner.issue_keyed``, keyed by
the request facts the claims are built from, so the claims are built only when signing); the
cache is dropped whenever the runtime's reload generation changes (policy, issuers,
revocations or inventory reloaded).
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import state_of
from gateway.addons._headers import header_bytes, set_header
from gateway.assertion import AssertionSigner, claims
from gateway.state import Runtime

__all__ = ["Assertion", "claims"]


class Assertion:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.signer: AssertionSigner | None = runtime.extras.get("assertion_signer")
        self.header = runtime.config.assertion.header if runtime.config.assertion else ""
        self.generation = runtime.generation
        self.last: tuple[str, tuple[bytes, bytes]] = ("", (b"", b""))  # token -> header field

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if (
            state is None
            or state.done
            or self.signer is None
            or state.route is None
            or not state.route.assertion
            or state.decision is None
        ):
            return
        if self.generation != self.runtime.generation:
            self.signer.forget()
            self.generation = self.runtime.generation
        identity, device, rule = state.identity, state.device, state.decision.rule_id
        method, path, audience = flow.request.method, state.path, state.route.id
        # Everything the claims are made of (see ``claims``), so equal keys mean equal claims.
        key = (
            "request",
            audience,
            rule,
            method,
            path,
            None if identity is None else identity.subject,
            None if identity is None else identity.issuer,
            None if identity is None else identity.token_id,
            None if identity is None else identity.groups,
            None if identity is None else identity.roles,
            None if device is None else device.fingerprint,
            None if device is None else device.device_id,
        )
        token = self.signer.issue_keyed(
            key,
            audience,
            identity.subject if identity else None,
            lambda: claims(rule, method, path, identity, device),
        )
        if state.sanitized:  # Sanitizer removed any header of this name the client sent
            if token is not self.last[0]:  # reused assertions are the same str object
                self.last = (token, (header_bytes(self.header), header_bytes(token)))
            headers = flow.request.headers
            headers.fields = (*headers.fields, self.last[1])
        else:
            set_header(flow.request.headers, self.header, token)
