"""Addon: add the SM2-signed identity assertion header (see :mod:`gateway.assertion`).

Only for allowed requests on routes with ``assertion: true``; the header name was already
stripped from the client's request by ``Sanitizer``, so an upstream never sees a forged one.
Signed assertions are reused for identical claims (``AssertionSigner.issue``); the cache is
dropped whenever the runtime's reload generation changes (policy, issuers, revocations or
inventory reloaded).
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import state_of
from gateway.addons._headers import set_header
from gateway.assertion import AssertionSigner
from gateway.state import Runtime


class Assertion:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.signer: AssertionSigner | None = runtime.extras.get("assertion_signer")
        self.header = runtime.config.assertion.header if runtime.config.assertion else ""
        self.generation = runtime.generation

    def request(self, flow: http.HTTPFlow) -> None:
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
        identity, device = state.identity, state.device
        extra = {
            "rule": state.decision.rule_id,
            "method": flow.request.method,
            "path": state.path,
            "groups": sorted(identity.groups) if identity else [],
            "roles": sorted(identity.roles) if identity else [],
            "token_issuer": identity.issuer if identity else None,
            "token_id": identity.token_id if identity else None,
            "device": device.fingerprint if device else None,
            "device_id": device.device_id if device else None,
        }
        token = self.signer.issue(
            audience=state.route.id,
            subject=identity.subject if identity else None,
            extra=extra,
        )
        set_header(flow.request.headers, self.header, token)
