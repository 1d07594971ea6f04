"""Addon: refuse plain HTTP on the TLS listener and verify client certificates per connection.

mitmproxy asks clients for a certificate (``request_client_cert``) but accepts any; this addon
verifies the chain once per TLS connection (``tls_established_client``) and remembers the
outcome. A request on a connection with a refused certificate is denied
(``builtin:device-invalid``); a connection without a certificate proceeds with no device, and
policy decides whether that is enough.
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
        try:
            self.outcomes[conn.id] = verifier.verify(chain)
        except DeviceError as exc:
            self.outcomes[conn.id] = exc

    def client_disconnected(self, client: connection.Client) -> None:
        self.outcomes.pop(client.id, None)

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        if not flow.client_conn.tls_established:
            reason = "plain HTTP on the TLS listener"
            deny(flow, state, Decision.deny(BUILTIN_TLS_REQUIRED, reason, 400), close=True)
            return
        outcome = self.outcomes.get(flow.client_conn.id)
        if isinstance(outcome, DeviceError):
            state.device_present = True
            reason = f"device certificate refused ({outcome.code}): {outcome.message}"
            deny(flow, state, Decision.deny(BUILTIN_DEVICE_INVALID, reason, 403))
        elif isinstance(outcome, VerifiedDevice):
            state.device_present = True
            state.device = outcome
