"""The sample city apps: real servers on loopback, their assertion check and their access log.

The access-log line must be what detect's ``web`` parser reads (nginx combined); the apps must
refuse requests without a valid gateway assertion (missing, forged, minted for another route)
and do what their endpoints promise (uploads stored and served back, ids validated).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from crypto.sm2 import SM2PrivateKey
from detect.model import Source
from detect.parsers.web import WebAccessParser
from gateway.assertion import AssertionSigner
from lab.apps import AdminApp, AppServer, CityApp, ExchangeApp, PortalApp, combined_line

ISSUER = "test-gateway"
KEY = SM2PrivateKey.generate()


def _parse(line: str) -> dict[str, Any]:
    event = WebAccessParser().parse_line(line, Source("access.log", "test"), 0)
    assert event is not None
    return dict(event)


def test_combined_line_reads_back_with_detects_web_parser() -> None:
    moment = datetime(2025, 6, 4, 2, 0, 0, tzinfo=UTC)
    line = combined_line(
        client="127.0.0.21",
        user="carol",
        moment=moment,
        request_line="GET /api/files?name=../../etc/passwd HTTP/1.1",
        status=400,
        size=26,
        referrer=None,
        agent='Mozilla/5.0 "quoted" \u4e2d',
    )
    assert line.startswith('127.0.0.21 - carol [04/Jun/2025:02:00:00 +0000] "GET /api/files')
    event = _parse(line)
    assert event["source.ip"] == "127.0.0.21"
    assert event["user.name"] == "carol"
    assert event["http.request.method"] == "GET"
    assert event["url.path"] == "/api/files"
    assert event["url.query"] == "name=../../etc/passwd"
    assert event["http.response.status_code"] == 400
    assert event["http.response.body.bytes"] == 26
    assert event["event.outcome"] == "failure"
    assert "http.request.referrer" not in event
    # nginx escapes quotes and non-ASCII as \xHH: one line, still parseable
    assert "\\x22quoted\\x22" in event["user_agent.original"]


def test_anonymous_line_has_no_user() -> None:
    line = combined_line(
        client="127.0.0.1",
        user=None,
        moment=datetime.now(UTC),
        request_line="GET /api/services HTTP/1.1",
        status=200,
        size=10,
        referrer="https://portal.city.test/",
        agent=None,
    )
    event = _parse(line)
    assert "user.name" not in event  # "-": no user
    assert event["http.request.referrer"] == "https://portal.city.test/"


def _serve(app: CityApp, tmp_path: Path) -> Iterator[AppServer]:
    server = AppServer(app, tmp_path / f"{app.name}.log", KEY.public_key(), ISSUER)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[AppServer]:
    yield from _serve(PortalApp(uploads=tmp_path / "uploads"), tmp_path)


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[AppServer]:
    yield from _serve(ExchangeApp(), tmp_path)


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[AppServer]:
    yield from _serve(AdminApp(), tmp_path)


def _assertion(
    route: str, subject: str | None = "carol", roles: tuple[str, ...] = (), key: Any = KEY
) -> dict[str, str]:
    signer = AssertionSigner(key, ISSUER, "gateway", 60)
    token = signer.sign(audience=route, subject=subject, extra={"roles": list(roles)})
    return {"X-Tulou-Identity": token, "X-Forwarded-For": "127.0.0.21"}


_CLIENT = httpx.Client(timeout=5, trust_env=False)  # plain HTTP to the apps on loopback


def teardown_module() -> None:
    _CLIENT.close()


def _get(server: AppServer, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return _CLIENT.get(f"http://127.0.0.1:{server.port}{path}", headers=headers)


def _log(server: AppServer) -> list[dict[str, Any]]:
    text = server.access_log.path.read_text()
    return [_parse(line) for line in text.splitlines()]


def test_requests_without_a_valid_assertion_are_refused_and_logged(portal: AppServer) -> None:
    assert _get(portal, "/api/services").status_code == 401
    forged = _assertion("portal", key=SM2PrivateKey.generate())
    assert _get(portal, "/api/services", forged).status_code == 401
    other_route = _assertion("admin")
    assert _get(portal, "/api/services", other_route).status_code == 401
    good = _get(portal, "/api/services", _assertion("portal"))
    assert good.status_code == 200 and "residence-permit" in good.json()["services"]
    log = _log(portal)  # written before each response was sent: no waiting
    assert [e["http.response.status_code"] for e in log] == [401, 401, 401, 200]
    assert [e.get("user.name") for e in log] == [None, None, None, "carol"]
    assert log[-1]["source.ip"] == "127.0.0.21"  # X-Forwarded-For from the loopback gateway


def test_portal_applications_validate_the_id(portal: AppServer) -> None:
    headers = _assertion("portal")
    found = _get(portal, "/api/applications?id=1001", headers)
    assert found.status_code == 200 and found.json()["owner"] == "carol"
    assert _get(portal, "/api/applications?id=1001%20OR%201=1", headers).status_code == 400
    assert _get(portal, "/api/applications?id=999", headers).status_code == 404
    created = _CLIENT.post(
        f"http://127.0.0.1:{portal.port}/api/applications",
        json={"service": "business-licence"},
        headers=headers,
    )
    assert created.status_code == 201
    number = created.json()["id"]
    again = _get(portal, f"/api/applications?id={number}", headers)
    assert again.json()["state"] == "received"


def test_portal_upload_is_stored_and_served_back(portal: AppServer, tmp_path: Path) -> None:
    headers = _assertion("portal")
    url = f"http://127.0.0.1:{portal.port}/api/upload"
    sent = _CLIENT.post(url, headers=headers, files={"file": ("note.php", b"<?php x ?>", "text/x")})
    assert sent.status_code == 201 and sent.json() == {"stored": ["/uploads/note.php"]}
    assert (tmp_path / "uploads" / "note.php").read_bytes() == b"<?php x ?>"
    back = _get(portal, "/uploads/note.php?cmd=id", headers)
    assert back.status_code == 200 and back.content == b"<?php x ?>"  # bytes, never executed
    sneaky = _CLIENT.post(url, headers=headers, files={"file": ("../../x.sh", b"x", "text/x")})
    assert sneaky.status_code == 201  # the directory part is dropped: stored as x.sh
    assert (tmp_path / "uploads" / "x.sh").exists() and not (tmp_path.parent / "x.sh").exists()
    assert _get(portal, "/uploads/missing.txt", headers).status_code == 404
    plain = _CLIENT.post(url, headers=headers, content=b"raw")
    assert plain.status_code == 415


def test_portal_files_refuse_traversal(portal: AppServer) -> None:
    headers = _assertion("portal")
    assert _get(portal, "/api/files?name=residence-permit.pdf", headers).status_code == 200
    assert _get(portal, "/api/files?name=../../etc/passwd", headers).status_code == 400
    assert _get(portal, "/api/files?name=..%2fsecret", headers).status_code == 400


def test_exchange_inbound_needs_an_envelope_delivery(exchange: AppServer) -> None:
    url = f"http://127.0.0.1:{exchange.port}/inbound/records"
    headers = _assertion("exchange-inbound", subject=None)
    assert _CLIENT.post(url, headers=headers, json=[{"a": 1}]).status_code == 403
    delivered = _CLIENT.post(
        url, headers={**headers, "X-Tulou-Envelope-Sender": "civil-affairs-gw"}, json=[{"a": 1}]
    )
    assert delivered.status_code == 201 and delivered.json() == {"accepted": 1}
    assert isinstance(exchange.app, ExchangeApp)
    assert exchange.app.received == [{"sender": "civil-affairs-gw", "records": [{"a": 1}]}]
    datasets = _get(exchange, "/api/datasets", _assertion("exchange", "alice"))
    assert json.loads(datasets.content)["datasets"] == ["business-register", "population-2025"]


def test_admin_console_wants_the_admin_role(admin: AppServer) -> None:
    assert _get(admin, "/admin/users", _assertion("admin", "carol")).status_code == 403
    ok = _get(admin, "/admin/users", _assertion("admin", "dave", roles=("admin",)))
    assert ok.status_code == 200 and "dave" in ok.json()["users"]
    assert _get(admin, "/admin/nothing", _assertion("admin", "dave", ("admin",))).status_code == 404
