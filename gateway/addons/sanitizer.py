"""Addon: canonicalise host and path, refuse ambiguous requests, strip spoofable headers.

- the version must be HTTP/1.0, 1.1 or 2 (mitmproxy would pass ``HTTP/0.9`` on); the method
  must be an upper-case token (``get`` is refused, not guessed: RFC 9110 methods
  are case-sensitive and upstreams disagree on lower-case ones);
- exactly one Host header; on HTTP/2 it must agree with ``:authority``; an HTTP/1
  absolute-form target (``GET http://other/x``) must name the same host as Host, and the
  upstream receives the origin-form request the decision was made on (``Forwarder``);
- header names must be tokens and values may hold no control characters (NUL, CR, LF, ...);
- the path is canonicalised (``gateway.policy.paths``) and the canonical form is what the
  policy sees *and* what the upstream receives;
- removed from the client's request: every header the gateway itself sets (``X-Tulou-*``: the
  assertion, the request id, ``X-Tulou-Envelope-Sender``, and any other of that namespace;
  ``X-Forwarded-*``, ``Forwarded``), the configured ``strip_headers`` and the trust headers
  apps are known to believe (``True-Client-IP``, ``X-Client-IP``, ``X-Real-IP``,
  ``X-Authenticated-User``, ``X-HTTP-Method-Override``, ``Proxy-Authorization``, ...), each
  also in its underscore spelling (``X_Tulou_Identity``: some servers map ``_`` to ``-``), and
  every field the client's ``Connection`` header nominates (hop-by-hop; ``Connection`` itself
  keeps only ``close``/``keep-alive``/``upgrade``). Nominating Host, Content-Length or
  Transfer-Encoding is refused;
- ``Authorization`` is removed too: the bearer token never travels to the upstream.

All of this is one pass over the header fields, which also records in the request state what
later addons would otherwise look up again: the Host and Authorization values as sent (for
``Authenticator`` and ``Forwarder``) and the User-Agent (for the audit line). Afterwards
``state.sanitized`` is true and no field named like a stripped header is left, so later addons
may append their own headers (``X-Tulou-Request-Id``, the assertion) without a scan.

Canonical hosts and paths are memoised (bounded LRU): both are pure functions of the text the
client sent, and refusals are never cached (they raise again).
"""

from __future__ import annotations

import re
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
from gateway.state import RequestState, Runtime
from gateway.trust_headers import FORWARDED as _FORWARDED
from gateway.trust_headers import TRUST_HEADERS

_OWN_PREFIX = b"x-tulou-"  # the gateway's header namespace: never accepted from a client
_HOST, _AUTHORIZATION, _USER_AGENT, _CONNECTION = (
    b"host",
    b"authorization",
    b"user-agent",
    b"connection",
)
_FRAMING = frozenset({b"host", b"content-length", b"transfer-encoding"})
_CONNECTION_KEPT = (b"close", b"keep-alive", b"upgrade")
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKENS = re.compile(rb"%s(?::%s)*" % (_TOKEN, _TOKEN))
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_METHOD = re.compile(rb"[A-Z][A-Z-]{0,31}")
_VERSIONS = frozenset({b"HTTP/1.0", b"HTTP/1.1", b"HTTP/2.0"})
_MEMO = 4096  # distinct hosts / paths remembered; an attacker's variety only evicts

cached_host = lru_cache(maxsize=_MEMO)(canonical_host)
cached_path = lru_cache(maxsize=_MEMO)(canonical_path)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")  # how mitmproxy decodes header values


def _nominated(values: list[bytes]) -> set[bytes]:
    return {t.strip().lower() for v in values for t in v.split(b",") if t.strip()}


class Sanitizer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.strip = tuple(h.lower() for h in runtime.config.strip_headers)
        if runtime.config.assertion is not None:
            self.strip += (runtime.config.assertion.header.lower(),)
        self.remove = lower_names((*self.strip, *_FORWARDED, *TRUST_HEADERS, "authorization"))

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        try:
            self._check(flow, state)
        except PathError as exc:
            deny(flow, state, Decision.deny(BUILTIN_BAD_REQUEST, exc.message, 400))

    def _check(self, flow: http.HTTPFlow, state: RequestState) -> None:
        request = flow.request
        if not _METHOD.fullmatch(request.data.method):  # ``.method`` reads upper-cased
            raise PathError("method must be an upper-case token")
        if request.data.http_version not in _VERSIONS:
            raise PathError("unsupported HTTP version")
        hosts: list[bytes] = []
        tokens: list[bytes] = []
        agents: list[bytes] = []
        connection: list[bytes] = []
        kept: list[tuple[bytes, bytes]] = []
        remove = self.remove
        fields = request.headers.fields
        # one regex over all names (":" joins them; never in a token) and one over all values
        # (TAB joins them; TAB is the one control byte a value may hold)
        if fields and not _TOKENS.fullmatch(b":".join(f[0] for f in fields)):
            raise PathError("a header name is not a token")
        if _BAD_VALUE.search(b"\t".join(f[1] for f in fields)):
            raise PathError("a header value holds a control character")
        for field in fields:
            name = field[0].lower()
            if b"_" in name:
                name = name.replace(b"_", b"-")
            if name in remove or name.startswith(_OWN_PREFIX):
                if name == _AUTHORIZATION and field[0].lower() == _AUTHORIZATION:
                    tokens.append(field[1])
                continue
            if name == _HOST:
                hosts.append(field[1])
            elif name == _USER_AGENT:
                agents.append(field[1])
            elif name == _CONNECTION:
                connection.append(field[1])
                continue
            kept.append(field)
        if connection:
            nominated = _nominated(connection)
            if nominated & _FRAMING:
                raise PathError("Connection nominates a framing header")
            kept = [f for f in kept if f[0].lower() not in nominated or f[0].lower() == b"upgrade"]
            options = [t for t in _CONNECTION_KEPT if t in nominated]
            if options:
                kept.append((b"Connection", b", ".join(options)))
        http2 = request.is_http2 or request.is_http3
        if len(hosts) > 1:
            raise PathError("more than one Host header")
        host_header = _text(hosts[0]) if hosts else None
        authority = request.authority
        if authority and host_header and cached_host(host_header) != cached_host(authority):
            what = ":authority" if http2 else "the absolute-form target"
            raise PathError(f"Host header disagrees with {what}")
        raw_host = authority or host_header or ""
        if not raw_host:
            raise PathError("no Host header")
        state.host = cached_host(raw_host)
        state.path = cached_path(request.path)
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
