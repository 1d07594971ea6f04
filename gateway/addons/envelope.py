"""Addon: system-to-system routes seal or open bodies with the crypto envelope.

Placeholder until ``crypto.envelope`` lands: inter-system routes fail closed.
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.policy import BUILTIN_ENVELOPE_INVALID, Decision
from gateway.state import Runtime


class Envelope:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done or state.route is None:
            return
        if state.route.inter_system != "off":
            reason = "envelope support is not available"
            deny(flow, state, Decision.deny(BUILTIN_ENVELOPE_INVALID, reason, 502))
