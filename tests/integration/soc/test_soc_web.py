"""The web UI over HTTP: login (with login CSRF), session cookies, CSRF on forms, the pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from soc.app import create_app

PASSWORD = "correct horse battery staple"


def login(client, username="ana", password=PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def csrf(page_text):
    return re.search(r'name="csrf_token" value="([^"]+)"', page_text).group(1)


def test_login_logout_and_cookie_flags(soc_sqlite):
    client = TestClient(
        create_app(soc_sqlite.db, hash_fn=sm3, cookie_secure=True), base_url="https://testserver"
    )
    assert login(client, password="wrong password!!").headers["location"] == "/login?failed=true"
    assert login(client, username="nobody").headers["location"] == "/login?failed=true"
    r = login(client)
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    cookie = next(
        v
        for k, v in r.headers.multi_items()
        if k == "set-cookie" and v.startswith("tulou_session=")
    )
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    page = client.get("/alerts")
    assert page.status_code == 200 and "告警队列" in page.text  # Chinese by default
    r = client.post("/logout", data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert r.headers["location"] == "/login"
    assert client.get("/alerts", follow_redirects=False).status_code == 303
    client.close()


def test_login_needs_the_login_csrf_token(soc_sqlite):
    client = soc_sqlite.client
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": "ana", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_forms_need_the_session_csrf_token(soc_sqlite):
    alert_id = soc_sqlite.new_alert()
    client = soc_sqlite.client
    login(client)
    page = client.get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    r = client.post(
        f"/alerts/{alert_id}/transition",
        data={"status": "acknowledged", "version": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    r = client.post(
        f"/alerts/{alert_id}/transition",
        data={"status": "acknowledged", "version": "1", "csrf_token": "x" * 40},
        follow_redirects=False,
    )
    assert r.status_code == 403
    # The JSON API with the cookie needs it as a header.
    r = client.post(f"/api/v1/alerts/{alert_id}/comments", json={"body": "x"})
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/alerts/{alert_id}/comments",
        json={"body": "x"},
        headers={"X-CSRF-Token": csrf(page.text)},
    )
    assert r.status_code == 201


def test_triage_through_the_pages(soc_sqlite):
    alert_id = soc_sqlite.new_alert(event_ids=["p1"])
    soc_sqlite.events.add(
        [
            {
                "event.id": "p1",
                "event.original": "<script>alert(1)</script>",
                "@timestamp": "2026-01-01T00:00:00.000Z",
                "event.dataset": "web",
            }
        ]
    )
    client = soc_sqlite.client
    login(client)
    page = client.get(f"/alerts/{alert_id}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # raw events are escaped
    token = csrf(page.text)
    for status, version in (("acknowledged", 1), ("investigating", 2)):
        r = client.post(
            f"/alerts/{alert_id}/transition",
            data={"status": status, "version": version, "csrf_token": token},
        )
        assert r.status_code == 200 and f'data-status="{status}"' in r.text
    stale = client.post(
        f"/alerts/{alert_id}/transition",
        data={"status": "resolved", "reason": "false_positive", "version": 1, "csrf_token": token},
    )
    assert stale.status_code == 409 and "请刷新后重试" in stale.text
    r = client.post(
        f"/alerts/{alert_id}/transition",
        data={"status": "resolved", "reason": "false_positive", "version": 3, "csrf_token": token},
    )
    assert 'data-status="resolved"' in r.text and "已处置 (误报)" in r.text
    r = client.post(
        f"/alerts/{alert_id}/case",
        data={"title": "Case A", "category": "malware", "grade": "较大", "csrf_token": token},
    )
    assert r.status_code == 200 and "Case A" in r.text and "须在 4 小时内报告" in r.text
    dash = client.get("/dashboard")
    assert dash.status_code == 200 and "<svg" in dash.text


def test_pages_follow_roles(soc_sqlite):
    client = soc_sqlite.client
    assert login(client, username="reg").headers["location"] == "/reports"
    assert client.get("/reports").status_code == 200
    assert client.get("/dashboard").status_code == 200
    assert client.get("/alerts").status_code == 403
    assert client.get("/drills").status_code == 403


def test_chinese_by_default_english_per_user(soc_sqlite):
    client = soc_sqlite.client
    # A browser's own Accept-Language does not switch the city's UI.
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="zh-CN">' in page.text and "用户名" in page.text
    # The switch on the login page does (a cookie), before anyone logs in.
    page = client.get("/login?lang=en")
    assert '<html lang="en">' in page.text and "User name" in page.text
    assert client.get("/login").text.count("User name") == 1  # the cookie keeps it
    client.cookies.clear()
    login(client)
    page = client.get("/alerts")
    assert "告警队列" in page.text
    r = client.post("/me/language", data={"locale": "en", "csrf_token": csrf(page.text)})
    assert r.status_code == 200
    assert "Alert queue" in client.get("/alerts").text
    # The choice is the user's: kept in the database, it follows them to a new browser.
    client.cookies.clear()
    login(client)
    assert "Alert queue" in client.get("/alerts").text
    # Their API errors follow it too.
    token = soc_sqlite.headers("ana")
    r = client.get("/api/v1/alerts/999", headers=token)
    assert r.json()["detail"] == "no alert 999"
    client.cookies.clear()
    r = client.get("/api/v1/alerts/999", headers=soc_sqlite.headers("bob"))
    assert r.json()["detail"] == "没有编号为 999 的告警"
    login(client, username="bob")
    page = client.get("/alerts")
    bad = client.post("/me/language", data={"locale": "fr", "csrf_token": csrf(page.text)})
    assert bad.status_code == 400 and "未知语言 &#39;fr&#39;" in bad.text


def test_times_in_the_city_zone_and_durations_in_units(soc_sqlite):
    alert_id = soc_sqlite.new_alert(
        first_seen="2026-01-01T16:30:00.000Z", last_seen="2026-01-01T16:45:07.250Z"
    )
    client = soc_sqlite.client
    login(client)
    page = client.get(f"/alerts/{alert_id}").text
    assert "2026-01-02 00:45:07" in page  # Asia/Shanghai, to the second
    assert "16:45:07.25" not in page and "+00:00" not in page
    queue = client.get("/alerts").text
    assert "2026-01-02 00:45:07" in queue
