"""Path, host and header bypass attempts, over HTTP/1 (raw bytes), HTTP/2 and WebSocket."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.gateway.conftest import Pki, RunningGateway, call, raw_request


def _raw(token: str, path: str, host: str = "hr.city.test", extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n{extra}"
        "Connection: close\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/users", 403),
        ("/api/../admin/users", 403),
        ("/api/./../admin/users", 403),
        ("//admin/users", 403),
        ("/ADMIN/users", 403),
        ("/Admin/Users", 403),
        ("/%61dmin/users", 403),
        ("/api/%2e%2e/admin/users", 403),
        ("/%2e%2e/admin/users", 400),
        ("/api%2f..%2fadmin/users", 400),
        ("/admin%2fusers", 400),
        ("/api/%252e%252e/admin", 400),
        ("/admin./users", 400),
        ("/admin;x=1/users", 400),
        ("/api\\..\\admin", 400),
        ("/admin%00/users", 400),
    ],
)
def test_admin_stays_denied(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any, path: str, status: int
) -> None:
    before = len(upstream.received)
    got, body = raw_request(shared_gateway, pki, _raw(pki.token(), path))
    assert got == status, body
    assert len(upstream.received) == before
    if got != 400 or body.startswith(b"{"):
        request_id = json.loads(body)["request_id"]
        event = shared_gateway.audit_for(request_id)
        expected = "no-admin" if status == 403 else "builtin:bad-request"
        assert event["rule.id"] == expected


def test_normalised_path_is_what_the_app_gets(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    got, body = raw_request(shared_gateway, pki, _raw(pki.token(), "/public/../api//people?q=1"))
    assert got == 200
    assert json.loads(body)["path"] == "/api/people?q=1"


def test_host_variants(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    got, _ = raw_request(shared_gateway, pki, _raw(pki.token(), "/api/x", host="HR.City.Test."))
    assert got == 200
    got, _ = raw_request(shared_gateway, pki, _raw(pki.token(), "/api/x", host="evil.test"))
    assert got == 404
    before = len(upstream.received)
    twice = _raw(pki.token(), "/api/x", extra="Host: evil.test\r\n")
    got, _ = raw_request(shared_gateway, pki, twice)
    assert got == 400
    assert len(upstream.received) == before


def test_spoofed_forwarding_and_identity_headers_are_replaced(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    spoofed = {
        "X-Forwarded-For": "10.0.0.1",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "admin.city.test",
        "Forwarded": "for=10.0.0.1",
        "X-Real-IP": "10.0.0.1",
        "X-Remote-User": "root",
        "X-User": "root",
        "X-Tulou-Identity": "forged",
        "X-Original-URL": "/admin/users",
    }
    response, _ = call(shared_gateway, pki, token=pki.token(), headers=spoofed)
    assert response.status_code == 200
    seen = response.json()["headers"]
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-host"] == "hr.city.test"
    for name in ("forwarded", "x-real-ip", "x-remote-user", "x-user", "x-original-url"):
        assert name not in seen
    assert seen["x-tulou-identity"] != "forged"


def test_http2_paths(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    response, event = call(shared_gateway, pki, "/ADMIN/users", token=pki.token(), http2=True)
    assert response.http_version == "HTTP/2"
    assert response.status_code == 403 and event["rule.id"] == "no-admin"
    assert event["http.version"] == "2.0"
    response, _ = call(shared_gateway, pki, "/api/people", token=pki.token(), http2=True)
    assert response.status_code == 200


def test_websocket_upgrade_is_decided_like_any_request(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    upgrade = (
        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    before = len(upstream.received)
    request = _raw(pki.token(), "/admin/ws", extra=upgrade).replace(
        b"Connection: close", b"Connection: Upgrade"
    )
    got, _ = raw_request(shared_gateway, pki, request)
    assert got == 403
    request = _raw("x.y.z", "/ws", extra=upgrade).replace(
        b"Connection: close", b"Connection: Upgrade"
    )
    got, _ = raw_request(shared_gateway, pki, request)
    assert got == 401
    assert len(upstream.received) == before


def test_plain_http_on_the_tls_listener(shared_gateway: RunningGateway, upstream: Any) -> None:
    import socket

    before = len(upstream.received)
    with socket.create_connection(("127.0.0.1", shared_gateway.port), timeout=5) as sock:
        sock.sendall(b"GET /public/x HTTP/1.1\r\nHost: hr.city.test\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
    assert len(upstream.received) == before
