"""Assignment notifications reach a real HTTP webhook (a server on loopback)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from soc.app import create_app
from soc.notify import WebhookNotifier


def test_assignment_posts_to_the_webhook(soc_sqlite):
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook?token=s3cret"
        notifier = WebhookNotifier(url)
        assert "s3cret" not in repr(notifier)
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
            }
        ]
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_webhook_does_not_fail_the_action(soc_sqlite):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(
        soc_sqlite.db, hash_fn=sm3, notifier=WebhookNotifier(f"http://127.0.0.1:{port}/", timeout=1)
    )
    alert_id = soc_sqlite.new_alert()
    with TestClient(app) as client:
        r = client.post(
            f"/api/v1/alerts/{alert_id}/assign",
            headers=soc_sqlite.headers("ana"),
            json={"assignee": "bob", "version": 1},
        )
    assert r.status_code == 200
