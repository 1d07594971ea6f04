"""The SOC web UI in Debian's Chromium (headless, driven by chromedriver through selenium).

A real server (uvicorn on a loopback port, SQLite), a real alert ingested over HTTP with a
service token, a real browser: log in, triage the alert to closed, and watch the dashboard's
numbers change. Screenshots are kept under test-artifacts/soc-browser/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from crypto.sm3 import sm3
from soc import auth
from soc.app import create_app
from soc.db import Database
from soc.evidence import MemoryEventSource
from tests.fixtures.browser import click_and_wait_for_new_page, screenshot
from tulou.contracts.alert import Alert

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery staple"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    db = Database(f"sqlite:///{tmp_path / 'soc.db'}")
    db.upgrade()
    with db.write() as session:
        auth.create_user(session, "ana", "analyst", PASSWORD)
        auth.create_user(session, "detect", "service", None)
        token = auth.create_token(session, "detect", "ingest")
    events = MemoryEventSource(
        [
            {
                "event.id": "b-1",
                "@timestamp": "2026-01-01T00:00:00.000Z",
                "event.dataset": "auth",
                "event.original": "sshd[42]: Failed password for root from 203.0.113.9 port 4711",
            }
        ]
    )
    app = create_app(db, hash_fn=sm3, events=events, cookie_secure=False)
    port = _port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("the SOC server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def shot(driver, name: str) -> None:
    screenshot(driver, "soc-browser", name)


def severity_row(driver, severity: str) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-severity="{severity}"]')
    if not rows:
        return {}
    return {
        cls: rows[0].find_element(By.CLASS_NAME, cls).text
        for cls in ("alerts", "resolved", "mtta", "mttr")
    }


def wait_status(driver, expected: str) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # The page is replaced by the form's redirect while we poll: an element found on the old
    # page can be gone before its text is read (stale, or Chromium's "node does not belong to
    # the document"). Retry those; a status that never arrives still fails after 30 s.
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.find_element(By.ID, "alert-status").get_attribute("data-status") == expected
    )


def test_log_in_triage_to_closed_and_watch_the_metrics(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, token = server
    alert = Alert(
        rule_id="ssh-brute-force",
        rule_hash="b" * 64,
        title="SSH brute force on web-1",
        level="high",
        event_ids=("b-1",),
        dedup_key="ssh|203.0.113.9",
        first_seen="2026-01-01T00:00:00.000Z",
        last_seen="2026-01-01T00:05:00.000Z",
        tags=("attack.credential-access", "attack.t1110"),
        fields={"source.ip": "203.0.113.9", "host.name": "web-1"},
    )
    r = httpx.post(
        f"{base}/api/v1/alerts/ingest",
        json={"alerts": [alert.to_dict()]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["created"] == 1
    alert_id = r.json()["alert_ids"][0]

    browser.get(f"{base}/alerts")
    assert "/login" in browser.current_url  # not logged in yet
    browser.find_element(By.ID, "username").send_keys("ana")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    shot(browser, "01-login")
    browser.find_element(By.ID, "login").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("/alerts"))
    shot(browser, "02-queue")

    browser.get(f"{base}/dashboard")
    before = severity_row(browser, "high")
    assert before["alerts"] == "1" and before["resolved"] == "0" and before["mttr"] == "—"
    shot(browser, "03-dashboard-before")

    browser.get(f"{base}/alerts")
    browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{alert_id}"] a.alert-link').click()
    assert "Failed password for root" in browser.find_element(By.ID, "events").text
    shot(browser, "04-alert-new")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "move-acknowledged"))
    wait_status(browser, "acknowledged")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "move-investigating"))
    wait_status(browser, "investigating")
    Select(browser.find_element(By.ID, "reason")).select_by_value("false_positive")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "move-resolved"))
    wait_status(browser, "resolved")
    assert browser.find_element(By.ID, "alert-status").text == "已处置 (误报)"  # Chinese UI
    shot(browser, "05-alert-resolved")

    browser.get(f"{base}/dashboard")
    after = severity_row(browser, "high")
    assert after["alerts"] == "1" and after["resolved"] == "1"
    # Human units, not raw seconds (a few seconds passed: "N 秒").
    assert after["mtta"].endswith(" 秒") and after["mttr"].endswith(" 秒")
    shot(browser, "06-dashboard-after")
