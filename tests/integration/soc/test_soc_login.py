"""Finding 7: lockout and throttling, logins in the audit trail, security headers, deactivation,
and admin-minted tokens that may read but never act in another person's name."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from crypto.sm3 import sm3
from soc import login as lockout
from soc.app import create_app
from soc.models import AuditRecord
from tests.integration.soc.conftest import PASSWORD
from tests.integration.soc.test_soc_web import csrf, login


def audit_actions(db, target):
    with db.read() as session:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.target == target).order_by(AuditRecord.seq)
        ).all()
        return [(r.action, json.loads(r.detail).get("result")) for r in rows]


def test_wrong_passwords_lock_the_account_even_for_the_right_one(soc_sqlite):
    client = soc_sqlite.client
    for _ in range(lockout.MAX_FAILURES - 1):
        assert login(client, password="wrong password!!").headers["location"] == (
            "/login?failed=true"
        )
    r = login(client, password="wrong password!!")
    assert r.headers["location"].startswith("/login?locked=")  # the fifth locks it
    # Now the right password is refused too, and the page says for how long.
    r = login(client)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?locked=")
    page = client.get(r.headers["location"])
    assert "失败次数过多" in page.text
    assert client.get("/alerts", follow_redirects=False).status_code == 303  # not logged in
    # Every attempt is in the audit trail with its result and address.
    actions = audit_actions(soc_sqlite.db, "user:ana")
    assert actions == [
        *[("auth.login_failed", "wrong_password")] * (lockout.MAX_FAILURES - 1),
        ("auth.login_failed", "locked"),
        ("auth.login_failed", "locked"),
    ]
    # Another account is not affected.
    assert login(client, username="bob").headers["location"] == "/alerts"
    assert audit_actions(soc_sqlite.db, "user:bob") == [("auth.login", "ok")]


def test_a_good_login_resets_the_count(soc_sqlite):
    client = soc_sqlite.client
    for _ in range(lockout.MAX_FAILURES - 1):
        login(client, password="wrong password!!")
    assert login(client).headers["location"] == "/alerts"
    client.cookies.clear()
    for _ in range(lockout.MAX_FAILURES - 1):
        login(client, password="wrong password!!")
    assert login(client).headers["location"] == "/alerts"


def test_one_address_is_throttled_across_accounts(soc_sqlite):
    app = soc_sqlite.app
    app.state.runtime.throttle.burst = 3
    client = soc_sqlite.client
    for name in ("x1", "x2", "x3"):
        login(client, username=name, password="wrong password!!")
    r = login(client, username="bob")  # right password, but this address is throttled
    assert r.headers["location"] == "/login?failed=true"
    assert audit_actions(soc_sqlite.db, "user:bob") == [("auth.login_failed", "throttled")]
    assert audit_actions(soc_sqlite.db, "user:x1") == [("auth.login_failed", "unknown_user")]


def test_security_headers_on_pages_and_api(soc_sqlite):
    client = TestClient(
        create_app(soc_sqlite.db, hash_fn=sm3, cookie_secure=True), base_url="https://testserver"
    )
    for path in ("/login", "/api/v1/me"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "script-src" not in csp  # default-src 'none': no script at all
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["strict-transport-security"].startswith("max-age=")
    client.close()
    plain = soc_sqlite.client.get("/login")  # cookie_secure=False: plain HTTP, no HSTS
    assert "strict-transport-security" not in plain.headers
    assert "content-security-policy" in plain.headers


def test_deactivated_users_lose_sessions_tokens_and_login(soc_sqlite):
    client = soc_sqlite.client
    login(client)
    assert client.get("/alerts").status_code == 200
    admin = soc_sqlite.headers("admin")
    r = soc_sqlite.client.patch("/api/v1/users/ana", headers=admin, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/alerts", follow_redirects=False).status_code == 303  # session gone
    assert soc_sqlite.client.get("/api/v1/me", headers=soc_sqlite.headers("ana")).status_code == 401
    client.cookies.clear()
    assert login(client).headers["location"] == "/login?failed=true"
    assert audit_actions(soc_sqlite.db, "user:ana")[-2:] == [
        ("user.update", None),
        ("auth.login_failed", "inactive"),
    ]
    me = soc_sqlite.client.patch("/api/v1/users/admin", headers=admin, json={"active": False})
    assert me.status_code == 400  # an admin cannot lock themselves out
    soc_sqlite.client.patch("/api/v1/users/ana", headers=admin, json={"active": True})
    assert login(client).headers["location"] == "/alerts"


def test_an_admin_minted_token_reads_but_never_acts_in_the_users_name(soc_sqlite):
    alert_id = soc_sqlite.new_alert()
    admin = soc_sqlite.headers("admin")
    r = soc_sqlite.client.post("/api/v1/users/ana/tokens", headers=admin, json={"name": "peek"})
    assert r.status_code == 201
    minted = {"Authorization": f"Bearer {r.json()['token']}"}
    me = soc_sqlite.client.get("/api/v1/me", headers=minted).json()
    assert me["username"] == "ana" and me["issued_by"] == "admin"
    assert soc_sqlite.client.get(f"/api/v1/alerts/{alert_id}", headers=minted).status_code == 200
    r = soc_sqlite.client.post(
        f"/api/v1/alerts/{alert_id}/transition",
        headers=minted,
        json={"status": "acknowledged", "version": 1},
    )
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    detail = soc_sqlite.client.get(f"/api/v1/alerts/{alert_id}", headers=admin).json()
    assert detail["status"] == "new"  # nothing happened in ana's name
    assert audit_actions(soc_sqlite.db, "user:ana") == [
        ("token.create", None),
        ("auth.impersonation_refused", None),
    ]
    # ana sees the token and who minted it on her own page.
    client = soc_sqlite.client
    login(client)
    page = client.get("/me")
    assert "issued-by-other" in page.text and "admin（非本人）" in page.text
    assert "auth.impersonation_refused" in page.text
    # A service account's token minted by an admin works as before (that is how detect gets one).
    r = soc_sqlite.client.post("/api/v1/users/detect/tokens", headers=admin, json={"name": "x"})
    service = {"Authorization": f"Bearer {r.json()['token']}"}
    ingest = soc_sqlite.client.post(
        "/api/v1/alerts/ingest", headers=service, json={"alerts": [soc_sqlite.alert()]}
    )
    assert ingest.status_code == 200


def test_logout_is_audited(soc_sqlite):
    client = soc_sqlite.client
    login(client)
    page = client.get("/alerts")
    client.post("/logout", data={"csrf_token": csrf(page.text)})
    assert [a for a, _ in audit_actions(soc_sqlite.db, "user:ana")] == ["auth.login", "auth.logout"]
    assert PASSWORD  # the fixture's password logged in
