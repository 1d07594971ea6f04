"""Addon: map the canonical host and path to a configured route.

The matching is :class:`tulou.contracts.routes.RouteTable` (the one matcher the policy CLI and
the compliance report use too): ``*`` is one DNS label, prefixes match on a segment boundary,
the most specific route wins.

Unknown hosts or paths outside every route are denied with ``builtin:no-route`` (404): the
gateway is not an open proxy.
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.config import Route
from gateway.policy import BUILTIN_NO_ROUTE, Decision
from gateway.state import Runtime
from tulou.contracts.routes import RouteTable


class Router:
    def __init__(self, runtime: Runtime) -> None:
        self.table = RouteTable(runtime.config.routes)

    def match(self, host: str, path: str) -> Route | None:
        return self.table.match(host, path)

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        route = self.match(state.host, state.path)
        if route is None:
            deny(flow, state, Decision.deny(BUILTIN_NO_ROUTE, "no route for host/path", 404))
            return
        state.route = route
