"""Addon: map the canonical host and path to a configured route (longest prefix wins).

Unknown hosts or paths outside every route are denied with ``builtin:no-route`` (404): the
gateway is not an open proxy.
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.config import Route
from gateway.policy import BUILTIN_NO_ROUTE, Decision
from gateway.policy.paths import compile_host_glob
from gateway.state import Runtime


class Router:
    def __init__(self, runtime: Runtime) -> None:
        self.routes = sorted(runtime.config.routes, key=lambda r: len(r.prefix), reverse=True)
        self.patterns = [(compile_host_glob(r.host), r) for r in self.routes]

    def match(self, host: str, path: str) -> Route | None:
        for pattern, route in self.patterns:
            if not pattern.fullmatch(host):
                continue
            prefix = route.prefix.rstrip("/")
            if path == prefix or path.startswith(prefix + "/") or route.prefix == "/":
                return route
        return None

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        route = self.match(state.host, state.path)
        if route is None:
            deny(flow, state, Decision.deny(BUILTIN_NO_ROUTE, "no route for host/path", 404))
            return
        state.route = route
