"""Addon: the revocation list (option ``tulou_revocations``), enforced on live connections too.

Revoked token ids and subjects are refused by the token verifier and revoked device
fingerprints by ``DevicePosture`` on every request, which covers every new HTTP/1 request and
HTTP/2 stream. Connections outlive requests, so on each reload this addon also closes every
live client connection (HTTP/1 keep-alive, HTTP/2, WebSocket) that authenticated with a token,
subject or device that is now revoked, and it re-checks WebSocket messages as they pass.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mitmproxy import connection, http
from mitmproxy.addonmanager import Loader

from gateway.addons._common import options_error, state_of
from gateway.revocation import Revocations, load_revocations
from gateway.state import Runtime
from tulou.errors import ConfigError

log = logging.getLogger(__name__)


class Revoker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # client connection id -> (token ids, subjects, device fingerprints) seen on it
        self.live: dict[str, tuple[set[str], set[str], set[str]]] = {}

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "tulou_revocations",
            str,
            "",
            "Revoked token ids, subjects and device fingerprints (YAML). Re-read when it "
            "changes; live connections of newly revoked parties are closed.",
        )

    def configure(self, updated: set[str]) -> None:
        if "tulou_revocations" not in updated:
            return
        from mitmproxy import ctx  # noqa: PLC0415

        path = ctx.options.tulou_revocations
        try:
            revocations = load_revocations(Path(path)) if path else Revocations()
        except ConfigError as exc:
            self.runtime.metrics.inc(
                "tulou_gateway_reloads_total", "Hot reloads.", file="revocations", result="failed"
            )
            raise options_error(f"revocations not loaded: {exc}") from None
        self.runtime.revocations = revocations
        if self.runtime.tokens is not None:
            self.runtime.tokens.revocations = revocations
        self.runtime.reloaded()
        self.runtime.metrics.inc(
            "tulou_gateway_reloads_total", "Hot reloads.", file="revocations", result="ok"
        )
        self.sever(revocations)

    def sever(self, revocations: Revocations) -> int:
        """Close live connections that used anything revoked. Returns how many were closed."""
        from mitmproxy import ctx  # noqa: PLC0415

        try:
            master: Any = ctx.master
            server = master.addons.get("proxyserver")
        except AttributeError:  # no master (unit tests of the configuration path)
            return 0
        closed = 0
        for conn_id, (tokens, subjects, devices) in list(self.live.items()):
            if (
                tokens & revocations.tokens
                or subjects & revocations.subjects
                or devices & revocations.devices
            ):
                handler = server.connections.get(conn_id) if server else None
                if handler is not None:
                    # mitmproxy has no public "close this client" call; this is what its own
                    # idle-timeout watchdog does to end a connection.
                    handler.close_connection(handler.client)
                    closed += 1
                self.live.pop(conn_id, None)
        if closed:
            log.info("closed %d live connection(s) after revocation", closed)
            self.runtime.metrics.inc(
                "tulou_gateway_connections_closed_total",
                "Live connections closed.",
                float(closed),
                reason="revoked",
            )
        return closed

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        entry = self.live.get(flow.client_conn.id)
        if entry is None:
            entry = self.live[flow.client_conn.id] = (set(), set(), set())
        if state.identity is not None:
            entry[0].add(state.identity.token_id)
            entry[1].add(state.identity.subject)
        if state.device is not None:
            entry[2].add(state.device.fingerprint)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None:
            return
        identity, device = state.identity, state.device
        reason = self.runtime.revocations.reason(
            token_id=identity.token_id if identity else None,
            subject=identity.subject if identity else None,
            device=device.fingerprint if device else None,
        )
        if reason is not None and flow.killable:
            log.info("closing WebSocket: %s", reason)
            live: Any = flow
            live.kill()

    def client_disconnected(self, client: connection.Client) -> None:
        self.live.pop(client.id, None)
