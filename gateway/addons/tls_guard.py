"""Addon: refuse plain HTTP on the TLS listener and verify client certificates per connection.

mitmproxy asks clients for a certificate (``request_client_cert``) but accepts any; this addon
verifies the chain once per TLS connection (``tls_established_client``) and remembers the
outcome. A request on a connection with a refused certificate is denied
(``builtin:device-invalid``); a connection without a certificate proceeds with no device, and
policy decides whether that is enough.

Fail closed: an unexpected error while verifying (not a :class:`DeviceError`) is a refusal, and
a connection that presented a certificate but has no recorded outcome (the hook raised before
recording one) is refused too — it is never taken for "no certificate".
"""

from __future__ import annotations

import logging

from mitmproxy import connection, http, tls

from gateway.addons._common import deny, state_of
from gateway.devices import DeviceError, VerifiedDevice
from gateway.policy import BUILTIN_DEVICE_INVALID, BUILTIN_TLS_REQUIRED, Decision
from gateway.state import Runtime

log = logging.getLogger(__name__)


class TlsGuard:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.outcomes: dict[str, VerifiedDevice | DeviceError | None] = {}

    def tls_established_client(self, data: tls.TlsData) -> None:
        conn = data.conn
        try:
            chain = [cert.to_cryptography() for cert in conn.certificate_list]
            if len(chain) > 1 and chain[0] == chain[1]:
                chain = chain[1:]  # some stacks list the leaf twice
            if not chain:
                self.outcomes[conn.id] = None
                return
            verifier = self.runtime.devices
            if verifier is None:
                self.outcomes[conn.id] = DeviceError("not-configured", "no device CA loaded")
                return
            self.outcomes[conn.id] = verifier.verify(chain)
        except DeviceError as exc:
            self.outcomes[conn.id] = exc
        except Exception as exc:  # fail closed: an error is a refusal, never "no certificate"
            log.exception("client certificate check failed")
            self.outcomes[conn.id] = DeviceError("internal", f"{type(exc).__name__}: {exc}")

    def client_disconnected(self, client: connection.Client) -> None:
        self.outcomes.pop(client.id, None)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        client = flow.client_conn
        if not client.tls_established:
            reason = "plain HTTP on the TLS listener"
            deny(flow, state, Decision.deny(BUILTIN_TLS_REQUIRED, reason, 400), close=True)
            return
        if client.id in self.outcomes:
            outcome = self.outcomes[client.id]
        elif client.certificate_list:
            outcome = DeviceError("unverified", "the certificate was never verified")
        else:
            outcome = None
        if isinstance(outcome, DeviceError):
            state.device_present = True
            reason = f"device certificate refused ({outcome.code}): {outcome.message}"
            deny(flow, state, Decision.deny(BUILTIN_DEVICE_INVALID, reason, 403))
        elif isinstance(outcome, VerifiedDevice):
            state.device_present = True
            state.device = outcome
