"""Addon: send an allowed request to its route's upstream, with the canonical origin-form target.

Runs after every check, still in ``requestheaders`` (so a streamed body follows the decided
head). With ``connection_strategy=lazy`` no upstream connection exists before this point, so a
denied request never touches the upstream. The Host header is kept (the upstream sees the name
the client used); the request line carries the canonical path in origin-form — an HTTP/1
absolute-form target (``GET http://host/x``) is rewritten, so the upstream receives exactly
the request the decision was made on.

**Last line of defence** (fail closed): a flow that arrives here without an allowing decision
— no request state, no decision, no route — is denied with ``builtin:internal-error`` (500),
both at the head and again when its body has been read; and a server connection to anything
but a configured upstream is refused (``server_connect``), so the reverse-mode default target
can never be reached by a request that slipped past the checks.

Bodies: routes that do not inspect bodies (``inter_system: off``) stream a request body whose
length is declared (``Content-Length``) to the upstream instead of buffering it; the length
was checked against the route's limit before. Chunked bodies and inter-system routes are
buffered (bounded by the largest route limit) and checked once read.
"""

from __future__ import annotations

from functools import lru_cache

from mitmproxy import http
from mitmproxy.proxy import server_hooks

from gateway.addons._common import deny, request_id, state_of
from gateway.addons._headers import append, set_header
from gateway.policy import BUILTIN_INTERNAL_ERROR, Decision, encode_path
from gateway.state import STATE_KEY, RequestState, Runtime

_encoded = lru_cache(maxsize=4096)(encode_path)  # pure; canonical paths repeat


def _undecided(flow: http.HTTPFlow) -> RequestState | None:
    """The state of a flow that must not be forwarded (denying it), else None."""
    state = state_of(flow)
    if state is None:
        state = flow.metadata[STATE_KEY] = RequestState(request_id=flow.id.replace("-", ""))
        reason = "request reached the forwarder without request state"
    elif state.done:
        return None
    elif state.failure is not None:
        reason = f"request reached the forwarder after a failure: {state.failure}"
    elif state.decision is None or not state.decision.allowed or state.route is None:
        reason = "request reached the forwarder without an allowing decision"
    else:
        return None
    deny(flow, state, Decision.deny(BUILTIN_INTERNAL_ERROR, reason, 500))
    return state


class Forwarder:
    def __init__(self, runtime: Runtime) -> None:
        self.upstreams = {
            (route.upstream_parts[1], route.upstream_parts[2]) for route in runtime.config.routes
        }

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and state.done:
            return
        if _undecided(flow) is not None:
            return
        assert state is not None and state.route is not None
        scheme, host, port = state.route.upstream_parts
        request = flow.request
        raw = request.path
        query = raw.partition("?")
        if request.authority and not (request.is_http2 or request.is_http3):
            request.authority = ""  # absolute-form -> origin-form (the decided target)
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
        if state.route.inter_system == "off" and "content-length" in request.headers:
            request.stream = True

    def request(self, flow: http.HTTPFlow) -> None:
        _undecided(flow)

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        address = data.server.address
        if address is None or (address[0], address[1]) not in self.upstreams:
            data.server.error = "not a configured upstream; refused by the gateway"
