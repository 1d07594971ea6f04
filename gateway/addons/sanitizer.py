"""Addon: canonicalise host and path, refuse ambiguous requests, strip spoofable headers.

- exactly one Host header; on HTTP/2 it must agree with ``:authority``; the host must name a
  configured route host (no open proxying);
- the path is canonicalised (``gateway.policy.paths``) and the canonical form is what the
  policy sees *and* what the upstream receives;
- identity headers a client could forge (the configured ``strip_headers``, our assertion
  header) and any ``X-Forwarded-*`` / ``Forwarded`` it sent are removed; the gateway then sets
  ``X-Forwarded-For``, ``-Proto`` and ``-Host`` itself.
"""

from __future__ import annotations

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.addons._headers import lower_names, rewrite
from gateway.policy import (
    BUILTIN_BAD_REQUEST,
    Decision,
    PathError,
    canonical_host,
    canonical_path,
)
from gateway.state import Runtime

_FORWARDED = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-tulou-request-id",
)


class Sanitizer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.strip = tuple(h.lower() for h in runtime.config.strip_headers)
        if runtime.config.assertion is not None:
            self.strip += (runtime.config.assertion.header.lower(),)
        self.remove = lower_names((*self.strip, *_FORWARDED))

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        request = flow.request
        hosts = request.headers.get_all("host")
        authority = request.authority if request.is_http2 or request.is_http3 else ""
        try:
            if len(hosts) > 1:
                raise PathError("more than one Host header")
            if authority and hosts and canonical_host(hosts[0]) != canonical_host(authority):
                raise PathError("Host header disagrees with :authority")
            raw_host = authority or (hosts[0] if hosts else "")
            if not raw_host:
                raise PathError("no Host header")
            state.host = canonical_host(raw_host)
            state.path = canonical_path(request.path)
        except PathError as exc:
            deny(flow, state, Decision.deny(BUILTIN_BAD_REQUEST, exc.message, 400))
            return
        added = (
            ("X-Forwarded-For", flow.client_conn.peername[0]),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", state.host),
        )
        rewrite(request.headers, self.remove, added)  # X-Forwarded-* are in self.remove
