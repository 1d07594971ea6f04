"""Addon: canonicalise host and path, refuse ambiguous requests, strip spoofable headers.

- exactly one Host header; on HTTP/2 it must agree with ``:authority``; the host must name a
  configured route host (no open proxying);
- the path is canonicalised (``gateway.policy.paths``) and the canonical form is what the
  policy sees *and* what the upstream receives;
- identity headers a client could forge (the configured ``strip_headers``, our assertion
  header) and any ``X-Forwarded-*`` / ``Forwarded`` it sent are removed; the gateway then sets
  ``X-Forwarded-For``, ``-Proto`` and ``-Host`` itself;
- ``Authorization`` is removed too: the bearer token never travels to the upstream (which gets
  the signed identity assertion instead).

All of this is one pass over the header fields, which also records in the request state what
later addons would otherwise look up again: the Host and Authorization values as sent (for
``Authenticator`` and ``Forwarder``) and the User-Agent (for the audit line). Afterwards
``state.sanitized`` is true and no field named like a stripped header is left, so later addons
may append their own headers (``X-Tulou-Request-Id``, the assertion) without a scan.

Canonical hosts and paths are memoised (bounded LRU): both are pure functions of the text the
client sent, and refusals are never cached (they raise again).
"""

from __future__ import annotations

from functools import lru_cache

from mitmproxy import http

from gateway.addons._common import deny, state_of
from gateway.addons._headers import lower_names
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
_HOST, _AUTHORIZATION, _USER_AGENT = b"host", b"authorization", b"user-agent"
_MEMO = 4096  # distinct hosts / paths remembered; an attacker's variety only evicts

cached_host = lru_cache(maxsize=_MEMO)(canonical_host)
cached_path = lru_cache(maxsize=_MEMO)(canonical_path)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")  # how mitmproxy decodes header values


class Sanitizer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.strip = tuple(h.lower() for h in runtime.config.strip_headers)
        if runtime.config.assertion is not None:
            self.strip += (runtime.config.assertion.header.lower(),)
        self.remove = lower_names((*self.strip, *_FORWARDED, "authorization"))

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        request = flow.request
        hosts: list[bytes] = []
        tokens: list[bytes] = []
        agents: list[bytes] = []
        kept: list[tuple[bytes, bytes]] = []
        remove = self.remove
        for field in request.headers.fields:
            name = field[0].lower()
            if name in remove:
                if name == _AUTHORIZATION:
                    tokens.append(field[1])
                continue
            if name == _HOST:
                hosts.append(field[1])
            elif name == _USER_AGENT:
                agents.append(field[1])
            kept.append(field)
        authority = request.authority if request.is_http2 or request.is_http3 else ""
        try:
            if len(hosts) > 1:
                raise PathError("more than one Host header")
            host_header = _text(hosts[0]) if hosts else None
            if authority and host_header and cached_host(host_header) != cached_host(authority):
                raise PathError("Host header disagrees with :authority")
            raw_host = authority or host_header or ""
            if not raw_host:
                raise PathError("no Host header")
            state.host = cached_host(raw_host)
            state.path = cached_path(request.path)
        except PathError as exc:
            deny(flow, state, Decision.deny(BUILTIN_BAD_REQUEST, exc.message, 400))
            return
        state.host_header = host_header
        state.authorization = tuple(_text(value) for value in tokens)
        state.user_agent = ", ".join(_text(value) for value in agents) if agents else None
        kept += (
            (b"X-Forwarded-For", flow.client_conn.peername[0].encode("utf-8", "surrogateescape")),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-Forwarded-Host", state.host.encode()),
        )
        request.headers.fields = tuple(kept)
        state.sanitized = True
