"""Addon: send an allowed request to its route's upstream, with the canonical path.

Runs after every check. With ``connection_strategy=lazy`` no upstream connection exists before
this point, so a denied request never touches the upstream. The Host header is kept (the
upstream sees the name the client used); the request line carries the canonical path.
"""

from __future__ import annotations

from functools import lru_cache

from mitmproxy import http

from gateway.addons._common import request_id, state_of
from gateway.addons._headers import append, set_header
from gateway.policy import encode_path

_encoded = lru_cache(maxsize=4096)(encode_path)  # pure; canonical paths repeat


class Forwarder:
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done or state.route is None or state.decision is None:
            return
        scheme, host, port = state.route.upstream_parts
        request = flow.request
        raw = request.path
        query = raw.partition("?")
        aimed = (request.scheme, request.host, request.port) == (scheme, host, port)
        if request.is_http2 or request.is_http3 or not aimed:
            request.scheme = scheme
            request.host = host
            request.port = port  # these three rewrite Host (and :authority) to the upstream...
            request.host_header = state.host  # ...and this sets it back to the client's host
        elif (state.host_header if state.sanitized else request.host_header) != state.host:
            # HTTP/1 already aimed at this upstream (the reverse-mode default): only Host.
            request.host_header = state.host
        if state.sanitized:  # Sanitizer removed any client-sent X-Tulou-Request-Id
            append(request.headers, (("X-Tulou-Request-Id", request_id(flow)),))
        else:
            set_header(request.headers, "X-Tulou-Request-Id", request_id(flow))
        path = _encoded(state.path) + (query[1] + query[2] if query[1] else "")
        if path != raw:  # equal: the request line already carries the canonical path
            request.path = path
