"""Regression tests for the outside security test of issue 16 (findings 1-5 and 7).

Each test states the attack as the report found it and what the gateway does now; each failed
on the gateway before the fix (the commit that added it says which). The gateway is the real
process (tests/integration/gateway/conftest.py) over real TLS; raw sockets are used wherever
httpx would normalise the attack away.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.gateway.conftest import Pki, RunningGateway, call

pytestmark = pytest.mark.timeout(120)


@contextlib.contextmanager
def tls(
    gateway: RunningGateway,
    pki: Pki,
    device: str | None = "alice-laptop",
    source: str = "127.0.0.1",
) -> Iterator[ssl.SSLSocket]:
    raw = socket.create_connection(
        ("127.0.0.1", gateway.port), timeout=10, source_address=(source, 0)
    )
    wrapped = pki.ssl_context(device).wrap_socket(raw, server_hostname="hr.city.test")
    try:
        yield wrapped
    finally:
        with contextlib.suppress(OSError):
            wrapped.close()


def read_status(sock: ssl.SSLSocket, timeout: float = 5) -> tuple[int, bytes]:
    """The status and everything read until the head ends (0 when closed without a response)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(TimeoutError, ssl.SSLError, ConnectionError):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/"):
        return 0, data
    return int(data.split(b" ", 2)[1]), data


def client_from(pki: Pki, source: str, device: str | None = "alice-laptop") -> httpx.Client:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(pki.server_ca))
    if device is not None:
        entry = pki.devices[device]
        context.load_cert_chain(str(entry.cert), str(entry.key))
    transport = httpx.HTTPTransport(verify=context, local_address=source)
    return httpx.Client(transport=transport, timeout=10)


def wait_for_rule(gateway: RunningGateway, rule: str) -> list[dict[str, Any]]:
    """The audit lines of ``rule``, waiting up to 5 s for the first."""
    deadline = time.monotonic() + 5
    while True:
        found = [e for e in gateway.audit() if e["rule.id"] == rule]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def forged(pki: Pki, sub: str) -> str:
    """An SM2 token signed by a key the gateway does not trust (a guess)."""
    from crypto.sm2 import SM2PrivateKey

    return pki.token("sm-1", sub=sub, iss="https://sm-idp.city.test", key=SM2PrivateKey.generate())


# --- finding 1: work before authentication is rate-limited -------------------------------------


def test_a_forged_token_flood_from_one_address_is_throttled(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway(
        rate_limit={
            "ip": None,
            "subject": None,
            "device": None,
            "auth_failure": {"rate": 0.2, "burst": 5},
        }
    )
    statuses = []
    with client_from(pki, "127.0.0.1") as client:
        for index in range(30):
            headers = {
                "Host": "hr.city.test",
                "Authorization": f"Bearer {forged(pki, f'user{index}')}",
            }
            statuses.append(client.get(f"{gateway.url}/api/people", headers=headers).status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 25  # refused before any signature check
    throttled = [e for e in gateway.audit() if e["http.response.status_code"] == 429]
    assert len(throttled) == 25 and {e["rule.id"] for e in throttled} == {"builtin:rate-limited"}


def test_guesses_for_one_subject_are_throttled_across_addresses(
    start_gateway: Any, pki: Pki
) -> None:
    gateway = start_gateway(
        rate_limit={
            "ip": None,
            "subject": None,
            "device": None,
            "auth_failure": {"rate": 0.2, "burst": 4},
        }
    )
    headers = {"Host": "hr.city.test"}
    with client_from(pki, "127.0.0.2") as client:
        for _ in range(4):
            headers["Authorization"] = f"Bearer {forged(pki, 'victim')}"
            assert client.get(f"{gateway.url}/api/people", headers=headers).status_code == 401
    with client_from(pki, "127.0.0.3") as client:
        headers["Authorization"] = f"Bearer {forged(pki, 'victim')}"
        assert client.get(f"{gateway.url}/api/people", headers=headers).status_code == 429
        headers["Authorization"] = f"Bearer {forged(pki, 'someone-else')}"
        assert client.get(f"{gateway.url}/api/people", headers=headers).status_code == 401


def test_every_denied_request_spends_the_address_budget(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway(
        rate_limit={"ip": {"rate": 0.01, "burst": 6}, "subject": None, "device": None}
    )
    with client_from(pki, "127.0.0.4") as client:
        denied = [
            client.get(f"{gateway.url}/nowhere", headers={"Host": "unknown.test"}),  # no route
            client.get(f"{gateway.url}/a%2fb", headers={"Host": "hr.city.test"}),  # malformed
            client.get(
                f"{gateway.url}/api/x",
                headers={"Host": "hr.city.test", "Authorization": "Bearer x.y.z"},
            ),
        ]
        assert [r.status_code for r in denied] == [404, 400, 401]
        rest = [
            client.get(f"{gateway.url}/public/x", headers={"Host": "hr.city.test"}).status_code
            for _ in range(4)
        ]
    assert rest == [200, 200, 200, 429]  # 3 denied + 3 allowed = the burst of 6
    with client_from(pki, "127.0.0.5") as other:  # another address has its own budget
        assert (
            other.get(f"{gateway.url}/public/x", headers={"Host": "hr.city.test"}).status_code
            == 200
        )


# --- finding 2: the decision is made on the head; bodies are not read before it -------------


def test_an_anonymous_large_post_is_refused_before_its_body(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    before = len(upstream.received)
    with tls(gateway, pki, device=None) as sock:
        sock.sendall(
            b"POST /admin/users HTTP/1.1\r\nHost: hr.city.test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 9437184\r\n\r\n"
        )
        status, head = read_status(sock)  # no body byte was sent
    assert status == 403
    assert b"connection: close" in head.lower()
    assert len(upstream.received) == before


def test_a_route_body_limit_refuses_a_declared_body_early(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    config = (gateway.directory / "gateway.yaml").read_text()
    assert "body_limit" not in config
    routes = [
        {
            "id": "hr",
            "host": "hr.city.test",
            "upstream": f"http://127.0.0.1:{upstream.server_address[1]}",
            "body_limit": "1k",
        }
    ]
    small = start_gateway("small", routes=routes)
    token = pki.token("es-1", acr="mfa")
    with tls(small, pki) as sock:
        sock.sendall(
            b"POST /api/people HTTP/1.1\r\nHost: hr.city.test\r\nAuthorization: Bearer "
            + token.encode()
            + b"\r\nContent-Length: 2048\r\n\r\n"
        )
        status, _ = read_status(sock)
    assert status == 413
    event = small.audit()[-1]
    assert event["rule.id"] == "builtin:too-large"
    # within the limit the body is streamed to the app unchanged
    response, _ = call(
        small, pki, method="POST", token=pki.token("es-1", acr="mfa"), content=b"x" * 900
    )
    assert response.status_code == 200 and response.json()["body"] == "x" * 900


# --- finding 3: slow and huge heads ----------------------------------------------------------


def test_a_one_mebibyte_header_is_refused(start_gateway: Any, pki: Pki, upstream: Any) -> None:
    gateway = start_gateway()
    before = len(upstream.received)
    with tls(gateway, pki) as sock:
        head = b"GET /public/x HTTP/1.1\r\nHost: hr.city.test\r\nX-Big: " + b"a" * (1 << 20)
        with contextlib.suppress(OSError):  # the gateway may close while we still send
            sock.sendall(head + b"\r\n\r\n")
        status, _ = read_status(sock)
    assert status in (431, 0)  # 0: the close raced ahead of our read (a TCP reset)
    assert len(upstream.received) == before
    assert wait_for_rule(gateway, "builtin:too-large")


def test_twenty_thousand_headers_are_refused(start_gateway: Any, pki: Pki, upstream: Any) -> None:
    gateway = start_gateway(limits={"max_header_bytes": 1 << 20})  # the count alone refuses
    before = len(upstream.received)
    many = b"".join(b"X-%d: v\r\n" % i for i in range(20_000))
    with tls(gateway, pki) as sock:
        sock.sendall(b"GET /public/x HTTP/1.1\r\nHost: hr.city.test\r\n" + many + b"\r\n")
        status, _ = read_status(sock)
    assert status == 431
    assert len(upstream.received) == before


def test_slowloris_connections_are_closed_after_the_header_timeout(
    start_gateway: Any, pki: Pki
) -> None:
    gateway = start_gateway(limits={"header_timeout": 1.0})
    with tls(gateway, pki) as sock:
        sock.sendall(b"GET /public/x HTTP/1.1\r\n")
        closed_after = None
        started = time.monotonic()
        for _ in range(30):  # one header byte every 0.2 s keeps mitmproxy's idle timer happy
            try:
                sock.sendall(b"X")
                sock.settimeout(0.2)
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, "the slow connection stayed open for 6 s"
    events = wait_for_rule(gateway, "builtin:timeout")
    assert len(events) == 1 and events[0]["http.response.status_code"] == 408


def test_connections_per_address_are_capped(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway(limits={"max_connections_per_address": 3})
    with contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(tls(gateway, pki, source="127.0.0.6"))
        with (
            pytest.raises((ssl.SSLError, OSError)),
            tls(gateway, pki, source="127.0.0.6") as extra,
        ):
            extra.sendall(b"GET /public/x HTTP/1.1\r\nHost: hr.city.test\r\n\r\n")
            if read_status(extra)[0] == 0:
                raise ConnectionResetError("closed at accept")
        with tls(gateway, pki, source="127.0.0.7") as other:  # other addresses are unaffected
            other.sendall(b"GET /public/x HTTP/1.1\r\nHost: hr.city.test\r\n\r\n")
            assert read_status(other)[0] == 200


# --- finding 4: absolute-form targets ------------------------------------------------------


def test_an_absolute_form_target_for_another_host_is_refused(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    before = len(upstream.received)
    with tls(gateway, pki) as sock:
        sock.sendall(
            f"GET http://127.0.0.1:{upstream.server_address[1]}/public/x HTTP/1.1\r\n"
            "Host: hr.city.test\r\n\r\n".encode()
        )
        status, _ = read_status(sock)
    assert status == 400
    assert len(upstream.received) == before


def test_an_absolute_form_target_reaches_the_app_in_origin_form(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    with tls(gateway, pki) as sock:
        sock.sendall(b"GET https://hr.city.test/public/./x HTTP/1.1\r\nHost: hr.city.test\r\n\r\n")
        status, _ = read_status(sock)
    assert status == 200
    assert upstream.received[-1]["path"] == "/public/x"


# --- finding 5: trust headers and route case -----------------------------------------------


def test_trust_headers_and_their_variants_never_reach_the_app(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    sent = [
        ("X-Tulou-Envelope-Sender", "peer"),
        ("X_Tulou_Envelope_Sender", "peer"),
        ("x-tulou-anything", "1"),
        ("X_Tulou_Identity", "forged"),
        ("True-Client-IP", "10.0.0.1"),
        ("X-Client-IP", "10.0.0.1"),
        ("X-Authenticated-User", "admin"),
        ("X-HTTP-Method-Override", "DELETE"),
        ("Proxy-Authorization", "Basic eA=="),
        ("X_Forwarded_For", "10.0.0.1"),
        ("X-Hop", "gone"),
    ]
    head = "".join(f"{k}: {v}\r\n" for k, v in sent)
    with tls(gateway, pki) as sock:
        sock.sendall(
            "GET /public/x HTTP/1.1\r\nHost: hr.city.test\r\n"
            f"Connection: keep-alive, X-Hop\r\n{head}\r\n".encode()
        )
        assert read_status(sock)[0] == 200
    received = upstream.received[-1]["headers"]
    names = {k.lower().replace("_", "-") for k in received}
    for name, _ in sent:
        if name.lower() not in ("x_tulou_identity", "x_forwarded_for"):  # the gateway sets these
            assert name.lower().replace("_", "-") not in names, name
    assert received["x-tulou-identity"] != "forged"  # the gateway's signed assertion only
    assert received["x-forwarded-for"] == "127.0.0.1"  # the gateway's own


def test_route_prefixes_match_like_policy_paths(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    port = upstream.server_address[1]
    gateway = start_gateway(
        routes=[
            {"id": "hr", "host": "hr.city.test", "upstream": f"http://127.0.0.1:{port}"},
            {
                "id": "special",
                "host": "hr.city.test",
                "prefix": "/Public/./",
                "upstream": f"http://127.0.0.1:{port}",
            },
        ]
    )
    for path in ("/public/x", "/PUBLIC/x", "/pub%6cic/x"):
        _, event = call(gateway, pki, path)
        assert event["service.target.name"] == "special", path


# --- finding 7: smaller ones -----------------------------------------------------------------


def test_lowercase_methods_and_nul_bytes_are_refused(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    before = len(upstream.received)
    for request in (
        b"get /public/x HTTP/1.1\r\nHost: hr.city.test\r\n\r\n",
        b"GET /public/x HTTP/1.1\r\nHost: hr.city.test\r\nX-A: a\x00b\r\n\r\n",
    ):
        with tls(gateway, pki) as sock:
            sock.sendall(request)
            assert read_status(sock)[0] == 400, request
    assert len(upstream.received) == before


def test_the_audit_file_is_private(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway()
    call(gateway, pki, "/public/x")
    mode = stat.S_IMODE(os.stat(gateway.directory / "audit.jsonl").st_mode)
    assert mode & 0o037 == 0, oct(mode)  # 0600 or 0640 at most


def test_refusals_inside_mitmproxy_are_audited(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway()
    with tls(gateway, pki) as sock:  # an HTTP/0.9 request line (no version)
        sock.sendall(b"GET /\r\n\r\n")
        read_status(sock)
    with tls(gateway, pki) as sock:  # a version the gateway does not speak
        sock.sendall(b"GET /public/x HTTP/0.9\r\nHost: hr.city.test\r\n\r\n")
        assert read_status(sock)[0] == 400
    context = pki.ssl_context("alice-laptop")
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    with context.wrap_socket(raw, server_hostname="hr.city.test") as h2:
        assert h2.selected_alpn_protocol() == "h2"
        h2.sendall(
            # a SETTINGS frame of 5 bytes (settings are 6 bytes each): FRAME_SIZE_ERROR
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x05\x04\x00\x00\x00\x00\x0012345"
        )
        with contextlib.suppress(OSError, ssl.SSLError):
            h2.recv(1024)
    deadline = time.monotonic() + 5
    reasons: list[str] = []
    while time.monotonic() < deadline and len(reasons) < 2:
        reasons = [
            e["event.reason"] for e in gateway.audit() if e["rule.id"] == "builtin:protocol-error"
        ]
        time.sleep(0.05)
    assert any("HTTP/1" in r for r in reasons), reasons
    assert any("HTTP/2" in r for r in reasons), reasons
