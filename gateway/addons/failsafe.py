"""Fail closed: what happens to a flow when any gateway addon raises on it.

mitmproxy isolates addons: an exception is logged and the next addon runs, which for an access
gateway would judge a half-checked request (an ``Authenticator`` that raised would leave the
request anonymous; a ``Sanitizer`` that raised would leave spoofed headers in place). The
gateway's hook dispatcher (``gateway.hookindex``) calls :class:`Failsafe` after every such
exception; for a flow it

- denies it: ``builtin:internal-error`` (500), or ``builtin:state-unavailable`` (503) when the
  shared state failed, naming the addon, the hook and the exception in the audit reason (the
  client sees only the status and request id). Every later addon sees a denied flow and does
  nothing; a body still to come is not read;
- in ``response``: the upstream's answer is replaced by the 500 (it is not delivered);
- makes sure the flow is audited even when the ``Auditor`` itself raised (then the error is
  logged with the request id — the response is the 500 regardless);
- in ``websocket_message``: kills the WebSocket.

Hooks without a flow (connection and TLS hooks, configuration) are mitmproxy's to log; the ones
the gateway depends on fail closed in their own code (``TlsGuard``: an unverified certificate
is refused; option hooks keep the last good file).
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.addons.auditor import Auditor
from gateway.policy import BUILTIN_INTERNAL_ERROR, BUILTIN_STATE_UNAVAILABLE, Decision
from gateway.state import STATE_KEY, RequestState, Runtime
from gateway.store import StoreUnavailable

log = logging.getLogger(__name__)
_BEFORE_UPSTREAM = frozenset({"requestheaders", "request"})
_AFTER_UPSTREAM = frozenset({"responseheaders", "response", "error"})


class Failsafe:
    def __init__(self, runtime: Runtime, auditor: Auditor) -> None:
        self.runtime = runtime
        self.auditor = auditor

    def __call__(self, hook: str, addon: str, args: list[Any], exc: Exception) -> None:
        target = args[0] if args else None
        if isinstance(target, http.HTTPFlow):
            self.flow_failed(target, hook, addon, exc)

    def flow_failed(self, flow: http.HTTPFlow, hook: str, addon: str, exc: Exception) -> None:
        state = state_of(flow)
        if state is None:
            state = flow.metadata[STATE_KEY] = RequestState(
                request_id=flow.id.replace("-", ""), in_head=hook == "requestheaders"
            )
        reason = f"{addon}.{hook} raised {type(exc).__name__}: {exc}"[:500]
        state.failure = reason
        self.runtime.metrics.inc(
            "tulou_gateway_addon_errors_total",
            "Addon exceptions (each denied its flow).",
            addon=addon,
        )
        if isinstance(exc, StoreUnavailable):
            decision = Decision.deny(BUILTIN_STATE_UNAVAILABLE, reason, 503)
        else:
            decision = Decision.deny(BUILTIN_INTERNAL_ERROR, reason, 500)
        if hook == "websocket_message":
            if flow.killable:
                live: Any = flow
                live.kill()
            return
        if hook in _BEFORE_UPSTREAM or hook in _AFTER_UPSTREAM:
            deny(flow, state, decision)  # in response: the upstream's answer is replaced
        if hook in _AFTER_UPSTREAM:
            try:
                self.auditor.record(flow, decision.status, "")
            except Exception:
                log.exception("audit failed for request %s (%s)", state.request_id, reason)
