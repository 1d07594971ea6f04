"""Addon: give every request a fresh :class:`~gateway.state.RequestState` (runs first)."""

from __future__ import annotations

from mitmproxy import http

from gateway.state import STATE_KEY, RequestState


class StateInit:
    """Starts the clock and the state of each request before any other gateway addon."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        flow.metadata[STATE_KEY] = RequestState(request_id=flow.id.replace("-", ""))
