"""WebSocket through the gateway: allowed by policy, then cut live when its subject is revoked."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Request,
    TextMessage,
)

from tests.integration.gateway.conftest import Pki

WS_POLICY = {
    "version": 1,
    "rules": [
        {
            "id": "ws-staff",
            "effect": "allow",
            "routes": ["ws"],
            "paths": ["/ws"],
            "groups": ["hr-staff"],
            "device": {"bound": True},
        }
    ],
}


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    self.request.sendall(ws.send(AcceptConnection()))
                elif isinstance(event, TextMessage):
                    self.request.sendall(ws.send(Message(data=f"echo {event.data}")))
                elif isinstance(event, CloseConnection):
                    self.request.sendall(ws.send(event.response()))
                    return


@pytest.fixture
def ws_app() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _receive(sock: ssl.SSLSocket, ws: WSConnection) -> list[Any]:
    data = sock.recv(65536)
    if not data:
        return [None]
    ws.receive_data(data)
    return list(ws.events())


def test_live_websocket_is_cut_on_revocation(start_gateway: Any, pki: Pki, ws_app: int) -> None:
    gateway = start_gateway(
        policy=WS_POLICY,
        routes=[{"id": "ws", "host": "ws.city.test", "upstream": f"http://127.0.0.1:{ws_app}"}],
    )
    token = pki.token("es-1")
    context = pki.ssl_context("alice-laptop")
    raw = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="ws.city.test") as sock:
        ws = WSConnection(ConnectionType.CLIENT)
        headers = [(b"authorization", f"Bearer {token}".encode())]
        sock.sendall(ws.send(Request(host="ws.city.test", target="/ws", extra_headers=headers)))
        assert any(isinstance(e, AcceptConnection) for e in _receive(sock, ws))
        sock.sendall(ws.send(Message(data="hello")))
        events = _receive(sock, ws)
        assert any(isinstance(e, TextMessage) and e.data == "echo hello" for e in events)
        (gateway.directory / "revocations.yaml").write_text(yaml.safe_dump({"subjects": ["alice"]}))
        sock.settimeout(0.5)
        deadline = time.monotonic() + 10
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                events = _receive(sock, ws)
            except TimeoutError:
                continue  # still open: keep waiting for the reload
            except (ssl.SSLError, ConnectionError):
                closed = True
            else:
                closed = events == [None] or any(isinstance(e, CloseConnection) for e in events)
        assert closed, "the live WebSocket survived the revocation"
    metrics = gateway.admin_get("/metrics").text
    assert 'tulou_gateway_connections_closed_total{reason="revoked"} 1' in metrics
