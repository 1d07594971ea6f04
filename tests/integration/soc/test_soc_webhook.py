"""Notifications reach a real HTTP webhook (a server on loopback), signed with HMAC-SM3."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from soc.app import create_app
from soc.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookNotifier, verify

SECRET = "s" * 40


def test_assignment_posts_to_the_webhook(soc_sqlite):
    received: list[dict] = []
    signed: list[bool] = []
    forged: list[bool] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            stamp, sig = self.headers[TIMESTAMP_HEADER], self.headers[SIGNATURE_HEADER]
            signed.append(verify(SECRET.encode(), stamp, body, sig))
            forged.append(verify(b"x" * 40, stamp, body, sig))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook?token=s3cret"
        notifier = WebhookNotifier(url, SECRET)
        assert "s3cret" not in repr(notifier) and SECRET not in repr(notifier)
        app = create_app(soc_sqlite.db, hash_fn=sm3, notifier=notifier)
        alert_id = soc_sqlite.new_alert()
        with TestClient(app) as client:
            r = client.post(
                f"/api/v1/alerts/{alert_id}/assign",
                headers=soc_sqlite.headers("ana"),
                json={"assignee": "bob", "version": 1},
            )
            assert r.status_code == 200
        assert received == [
            {
                "event": "alert.assigned",
                "alert_id": alert_id,
                "title": "SSH brute force",
                "severity": "high",
                "assignee": "bob",
                "by": "ana",
                "text": f"告警 {alert_id}（高）“SSH brute force”已由 ana 分派给 bob",
            }
        ]
        # The receiver's check: the right secret verifies, another does not.
        assert signed == [True] and forged == [False]
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_webhook_does_not_fail_the_action(soc_sqlite):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(
        soc_sqlite.db,
        hash_fn=sm3,
        notifier=WebhookNotifier(f"http://127.0.0.1:{port}/", SECRET, timeout=1),
    )
    alert_id = soc_sqlite.new_alert()
    with TestClient(app) as client:
        r = client.post(
            f"/api/v1/alerts/{alert_id}/assign",
            headers=soc_sqlite.headers("ana"),
            json={"assignee": "bob", "version": 1},
        )
    assert r.status_code == 200
