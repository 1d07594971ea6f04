"""Addon: give every request a fresh :class:`~gateway.state.RequestState` (runs first).

``in_head`` is true from ``requestheaders`` until the body has been read (``request``): a
denial made meanwhile is answered before the body (``gateway.addons._common.deny``).
"""

from __future__ import annotations

from mitmproxy import http

from gateway.state import STATE_KEY, RequestState


class StateInit:
    """Starts the clock and the state of each request before any other gateway addon."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        flow.metadata[STATE_KEY] = RequestState(request_id=flow.id.replace("-", ""), in_head=True)

    def request(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.get(STATE_KEY)
        if isinstance(state, RequestState):
            state.in_head = False
