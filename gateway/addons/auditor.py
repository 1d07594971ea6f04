"""Addon: one audit line and the metrics for every decision, including upstream failures.

Runs on ``response`` (allowed requests answered by the upstream, and every denial, whose
response an earlier addon set) and on ``error`` (the upstream could not be reached: mitmproxy
answers 502 and the gateway keeps serving). Each flow is audited exactly once.
"""

from __future__ import annotations

import time
from typing import Any

from mitmproxy import http

from gateway.addons._common import request_id, state_of
from gateway.addons._headers import set_header
from gateway.audit import decision_event
from gateway.policy import BUILTIN_PROTOCOL_ERROR, Decision, DevicePosture
from gateway.state import RequestState, Runtime


class Auditor:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # The inventory shares its posture objects between requests: their audit fields are
        # built once per object (kept with the object, so an id is never reused meanwhile).
        self.postures: dict[int, tuple[DevicePosture, dict[str, Any]]] = {}

    def posture_fields(self, posture: DevicePosture) -> dict[str, Any]:
        """The posture keys of the audit event (read-only: shared between events)."""
        found = self.postures.get(id(posture))
        if found is None or found[0] is not posture:
            if len(self.postures) >= 4096:
                self.postures.clear()
            fields = {
                "enrolled": posture.enrolled,
                "os_patch_level": posture.os_patch_level,
                "disk_encrypted": posture.disk_encrypted,
                "fresh": posture.fresh,
            }
            found = self.postures[id(posture)] = (posture, fields)
        return found[1]

    def _record(self, flow: http.HTTPFlow, state: RequestState, status: int, note: str) -> None:
        if state.audited:
            return
        state.audited = True
        decision = state.decision or Decision.deny("builtin:unknown", "no decision", status)
        duration = time.perf_counter_ns() - state.started_ns
        identity, device, posture = state.identity, state.device, state.posture
        event = decision_event(
            moment=state.moment,
            allowed=decision.allowed,
            rule_id=decision.rule_id,
            reason=decision.reason + note,
            status=status,
            duration_ns=duration,
            method=flow.request.method,
            host=state.host or flow.request.pretty_host,
            path=state.path or flow.request.path.partition("?")[0][:2048],
            source_ip=flow.client_conn.peername[0],
            source_port=flow.client_conn.peername[1],
            route_id=state.route.id if state.route else None,
            subject=identity.subject if identity else None,
            issuer=identity.issuer if identity else None,
            token_id=identity.token_id if identity else None,
            token_checked=state.token_checked,
            device_fingerprint=device.fingerprint if device else None,
            device_id=device.device_id if device else None,
            posture=None if posture is None else self.posture_fields(posture),
            upstream=state.route.upstream if state.route and decision.allowed else None,
            user_agent=state.user_agent
            if state.sanitized
            else flow.request.headers.get("user-agent"),
            tls_version=flow.client_conn.tls_version,
            http_version=flow.request.http_version.removeprefix("HTTP/"),
            event_id=request_id(flow),
        )
        self.runtime.audit.write(event)
        outcome = "allow" if decision.allowed else "deny"
        metrics = self.runtime.metrics
        metrics.inc(
            "tulou_gateway_decisions_total",
            "Access decisions.",
            outcome=outcome,
            rule=decision.rule_id,
        )
        metrics.observe(
            "tulou_gateway_request_duration_seconds",
            "Gateway-side request latency (decision + upstream for allowed requests).",
            duration / 1e9,
            outcome=outcome,
        )

    def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and flow.response is not None:
            set_header(flow.response.headers, "X-Tulou-Request-Id", request_id(flow))
            self._record(flow, state, flow.response.status_code, "")

    def error(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.error is None:
            return
        decision = state.decision
        if decision is not None and not decision.allowed and flow.response is not None:
            # refused at the head with a body to come: the denial is what the client got
            self._record(flow, state, flow.response.status_code, "")
        elif decision is None:
            # refused by mitmproxy itself after the head (body over the limit, broken framing)
            message = flow.error.msg
            status = 413 if "body_size_limit" in message else 400
            state.decision = Decision.deny(BUILTIN_PROTOCOL_ERROR, message, status)
            self._record(flow, state, status, "")
        else:
            self._record(flow, state, 502, f"; upstream failed: {flow.error.msg}")

    def record(self, flow: http.HTTPFlow, status: int, note: str = "") -> None:
        """Audit ``flow`` now if it was not yet (used by the failsafe)."""
        state = state_of(flow)
        if state is not None:
            self._record(flow, state, status, note)
