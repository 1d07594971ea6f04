"""Addon: map the canonical host and path to a configured route (the most specific wins).

Matching is :class:`gateway.routing.CanonicalRoutes` — the one contract matcher
(``tulou.contracts.routes``) on canonical prefixes and the canonical path, with the policy's case
rule (case-insensitive unless the policy sets ``case_sensitive_paths``). Unknown hosts or
paths outside every route are denied with ``builtin:no-route`` (404): the gateway is not an
open proxy. A declared body larger than the route's ``body_limit`` is refused here (413),
before authentication and before any of the body is read.
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.config import Route, route_body_limit
from gateway.policy import BUILTIN_NO_ROUTE, BUILTIN_TOO_LARGE, Decision
from gateway.routing import CanonicalRoutes
from gateway.state import Runtime


class Router:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.table = CanonicalRoutes(runtime.config.routes)
        self.limits = {r.id: route_body_limit(runtime.config, r) for r in runtime.config.routes}

    def match(self, host: str, path: str) -> Route | None:
        policy = self.runtime.policy
        case_sensitive = policy.case_sensitive_paths if policy is not None else False
        return self.table.match(host, path, case_sensitive=case_sensitive)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        route = self.match(state.host, state.path)
        if route is None:
            deny(flow, state, Decision.deny(BUILTIN_NO_ROUTE, "no route for host/path", 404))
            return
        state.route = route
        declared = flow.request.headers.get("content-length")
        limit = self.limits[route.id]
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            reason = f"declared body of {int(declared)} bytes exceeds the route's {limit}"
            deny(flow, state, Decision.deny(BUILTIN_TOO_LARGE, reason, 413))

    def request(self, flow: http.HTTPFlow) -> None:
        """A body without a declared length (chunked) is checked once read."""
        state = state_of(flow)
        if state is None or state.done or state.route is None:
            return
        content = flow.request.raw_content
        limit = self.limits[state.route.id]
        if content is not None and len(content) > limit:
            reason = f"body of {len(content)} bytes exceeds the route's {limit}"
            deny(flow, state, Decision.deny(BUILTIN_TOO_LARGE, reason, 413))
