"""Addon: send an allowed request to its route's upstream, with the canonical path.

Runs after every check. With ``connection_strategy=lazy`` no upstream connection exists before
this point, so a denied request never touches the upstream. The Host header is kept (the
upstream sees the name the client used); the request line carries the canonical path.
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import request_id, state_of
from gateway.policy import encode_path


class Forwarder:
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done or state.route is None or state.decision is None:
            return
        scheme, host, port = state.route.upstream_parts
        query = flow.request.path.partition("?")
        flow.request.scheme = scheme
        flow.request.host = host
        flow.request.port = port
        flow.request.host_header = state.host
        flow.request.headers["X-Tulou-Request-Id"] = request_id(flow)
        flow.request.path = encode_path(state.path) + (query[1] + query[2] if query[1] else "")
