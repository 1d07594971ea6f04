"""The sanitizer's one pass over the headers equals the straightforward mitmproxy edits.

Reference (what the sanitizer did with mitmproxy's own methods before it was one pass): read
``get_all("host")`` / ``get_all("authorization")`` / ``get("user-agent")``, ``pop`` every
stripped, forwarding and Authorization header, then set ``X-Forwarded-For``/``-Proto``/
``-Host``. The header lists are random (names in any case, repeated, arbitrary bytes).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.http import Headers

from gateway.addons.sanitizer import _FORWARDED, TRUST_HEADERS, Sanitizer, cached_host, cached_path
from gateway.addons.state_init import StateInit
from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.policy import PathError, canonical_host, canonical_path
from gateway.state import STATE_KEY, RequestState, Runtime

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # see test_gateway_addons.py
    from mitmproxy.test import tflow

CONFIG = GatewayConfig.model_validate(
    {
        "tls": {"cert": "c.pem", "key": "k.pem"},
        "device": {"ca": "ca.pem"},
        "identity": {"issuers": "i.yaml"},
        "policy": "p.yaml",
        "routes": [{"id": "hr", "host": "hr.city.test", "upstream": "http://127.0.0.1:1"}],
        "assertion": {"key": "a.key", "header": "X-Tulou-Identity"},
    }
)
NAMES = [
    "Host",
    "host",
    "HOST",
    "Authorization",
    "authorization",
    "User-Agent",
    "user-agent",
    "X-Forwarded-For",
    "x-forwarded-host",
    "Forwarded",
    "X-Remote-User",
    "x-tulou-identity",
    "X-Tulou-Request-Id",
    "Accept",
    "Cookie",
]
HOSTS = [b"hr.city.test", b"HR.City.Test.", b"hr.city.test:443", b"bad host", b"\xff"]
FIELDS = st.lists(
    st.tuples(
        st.sampled_from(NAMES).map(str.encode),
        st.sampled_from(HOSTS) | st.binary(max_size=12),
    ),
    max_size=8,
)


def reference(fields: list[tuple[bytes, bytes]], strip: list[str]) -> dict[str, Any]:
    headers = Headers(fields)
    hosts = headers.get_all("host")
    found = {
        "hosts": hosts,
        "authorization": tuple(headers.get_all("authorization")),
        "user_agent": headers.get("user-agent"),
    }
    for name in (*strip, *_FORWARDED, *TRUST_HEADERS, "authorization", "x-tulou-request-id"):
        headers.pop(name, None)
    headers["X-Forwarded-For"] = "192.0.2.7"
    headers["X-Forwarded-Proto"] = "https"
    if len(hosts) == 1:
        with contextlib.suppress(PathError):  # refused: the test does not compare fields
            headers["X-Forwarded-Host"] = canonical_host(hosts[0])
    found["fields"] = headers.fields
    return found


def run(fields: list[tuple[bytes, bytes]]) -> tuple[http.HTTPFlow, RequestState]:
    flow = tflow.tflow()
    flow.request.headers = Headers(fields)
    flow.request.path = "/api/./x"
    flow.client_conn.peername = ("192.0.2.7", 50000)
    StateInit().requestheaders(flow)
    Sanitizer(Runtime(config=CONFIG, audit=AuditLog(None))).requestheaders(flow)
    state = flow.metadata[STATE_KEY]
    assert isinstance(state, RequestState)
    return flow, state


@settings(max_examples=300)
@given(FIELDS)
def test_one_pass_equals_the_mitmproxy_edits(fields: list[tuple[bytes, bytes]]) -> None:
    strip = [*CONFIG.strip_headers, "X-Tulou-Identity"]
    expected = reference(fields, strip)
    flow, state = run(fields)
    controls = any((b < 0x20 and b != 0x09) or b == 0x7F for _, value in fields for b in value)
    if state.done:  # refused: the request is answered, its headers are left as they were
        assert flow.response is not None and flow.response.status_code == 400
        assert flow.request.headers.fields == tuple(fields) and not state.sanitized
        assert controls or len(expected["hosts"]) != 1 or _refused(expected["hosts"][0])
        return
    assert not controls  # a NUL, CR, LF or other control byte in a value is always refused
    assert state.sanitized and state.path == "/api/x"
    assert flow.request.headers.fields == expected["fields"]
    assert state.host_header == expected["hosts"][0]
    assert state.host == canonical_host(expected["hosts"][0])
    assert state.authorization == expected["authorization"]
    assert state.user_agent == expected["user_agent"]


def _refused(host: str) -> bool:
    try:
        canonical_host(host)
    except PathError:
        return True
    return False


def test_the_token_never_stays_in_the_upstream_request() -> None:
    flow, state = run([(b"Host", b"hr.city.test"), (b"AUTHORIZATION", b"Bearer abc")])
    assert state.authorization == ("Bearer abc",)
    assert "authorization" not in flow.request.headers


@given(st.text(max_size=30) | st.sampled_from(["/a/../b", "/%2e%2e/x", "/a%2fb", "/x?y=1"]))
def test_memoised_canonical_forms_equal_the_functions(text: str) -> None:
    for cached, direct in ((cached_path, canonical_path), (cached_host, canonical_host)):
        outcomes = []
        for function in (direct, cached, cached):  # the second cached call is a memo hit
            try:
                outcomes.append(function(text))
            except PathError as exc:
                outcomes.append(f"refused: {exc.message}")
        assert outcomes[0] == outcomes[1] == outcomes[2]


@given(st.lists(st.binary(max_size=6) | st.sampled_from(NAMES).map(str.encode), min_size=1))
def test_the_joined_name_check_equals_one_check_per_name(names: list[bytes]) -> None:
    import re

    from gateway.addons.sanitizer import _TOKENS

    token = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 tchar
    assert bool(_TOKENS.fullmatch(b":".join(names))) == all(token.fullmatch(n) for n in names)
