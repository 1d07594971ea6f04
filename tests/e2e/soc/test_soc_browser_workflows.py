"""The SOC's analyst workflows in Debian's Chromium: bulk actions from the queue, search over
events, closing a case, the Chinese UI and the switch to English. Screenshots are kept under
test-artifacts/soc-browser/ (not committed)."""

from __future__ import annotations

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
from tests.e2e.soc.test_soc_browser import PASSWORD, _port
from tests.fixtures.browser import click_and_wait_for_new_page, screenshot
from tulou.contracts.alert import Alert

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def events() -> list[dict]:
    return [
        {
            "event.id": f"w-{i}",
            "@timestamp": f"2026-01-01T00:{i:02d}:00.000Z",
            "event.dataset": "auth",
            "event.original": f"sshd: Failed password for root from 203.0.113.{i % 3} #{i}",
            "source.ip": f"203.0.113.{i % 3}",
            "host.name": "web-1",
        }
        for i in range(25)
    ]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    db = Database(f"sqlite:///{tmp_path / 'soc.db'}")
    db.upgrade()
    with db.write() as session:
        auth.create_user(session, "ana", "analyst", PASSWORD)
        auth.create_user(session, "bob", "analyst", PASSWORD)
        auth.create_user(session, "detect", "service", None)
        token = auth.create_token(session, "detect", "ingest")
    app = create_app(db, hash_fn=sm3, events=MemoryEventSource(events()), cookie_secure=False)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_port(), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("the SOC server did not start")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{srv.config.port}"
    alerts = [
        Alert(
            rule_id=f"rule-{i}",
            rule_hash="c" * 64,
            title=f"SSH 暴力破解 {i}",
            level="high",
            event_ids=(f"w-{i}",),
            dedup_key=f"k-{i}",
            first_seen="2026-01-01T00:00:00.000Z",
            last_seen="2026-01-01T00:05:00.000Z",
            tags=("attack.credential-access", "attack.t1110"),
            fields={"source.ip": "203.0.113.1"},
        ).to_dict()
        for i in range(3)
    ]
    r = httpx.post(
        f"{base}/api/v1/alerts/ingest",
        json={"alerts": alerts},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["created"] == 3
    try:
        yield base
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def shot(driver, name: str) -> None:
    path = screenshot(driver, "soc-browser", name)
    assert path.stat().st_size > 1000


def log_in(browser, base: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/login")
    browser.find_element(By.ID, "username").send_keys("ana")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "login"))
    assert browser.current_url.endswith("/alerts")


def test_bulk_search_case_closing_in_chinese_then_english(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = server
    log_in(browser, base)
    # Chinese by default, even though Chromium asks for en-US.
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert browser.find_element(By.TAG_NAME, "h1").text == "告警队列"
    shot(browser, "10-queue-zh")

    # Bulk: select every alert, acknowledge them in one go.
    for box in browser.find_elements(By.CSS_SELECTOR, "input.select-alert"):
        box.click()
    Select(browser.find_element(By.ID, "bulk-action")).select_by_value("acknowledged")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "bulk-apply"))
    assert browser.find_element(By.ID, "bulk-summary").text == "3 条告警中已修改 3 条。"
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.bulk-ok")) == 3
    shot(browser, "11-bulk-result")
    browser.get(f"{base}/alerts")
    statuses = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.status")}
    assert statuses == {"已确认"}

    # Search over events, newest first, with a total and pages both ways.
    browser.get(f"{base}/search")
    field = browser.find_element(By.ID, "event-query")
    field.send_keys("source.ip:203.0.113.1")
    Select(browser.find_element(By.NAME, "limit")).select_by_visible_text("20")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "event-search-go"))
    total = browser.find_element(By.ID, "event-total")
    assert total.get_attribute("data-total") == "8" and "共 8 条" in total.text
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.event-row")
    assert [r.get_attribute("data-id") for r in rows][:2] == ["w-22", "w-19"]
    shot(browser, "12-event-search")
    browser.get(f"{base}/search?limit=20")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "next-page"))
    second = [
        r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "tr.event-row")
    ]
    assert second == ["w-4", "w-3", "w-2", "w-1", "w-0"]
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "prev-page"))
    first = browser.find_elements(By.CSS_SELECTOR, "tr.event-row")
    assert len(first) == 20 and first[0].get_attribute("data-id") == "w-24"

    # A case from an alert with its related alerts, then closed with a reason.
    browser.get(f"{base}/alerts")
    browser.find_elements(By.CSS_SELECTOR, "a.alert-link")[0].click()
    assert browser.find_elements(By.CSS_SELECTOR, "tr.related-row")  # same source address
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "open-case"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#case-alerts li")) == 3
    Select(browser.find_element(By.ID, "case-reason")).select_by_value("true_positive")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "case-close"))
    status = browser.find_element(By.ID, "case-status")
    assert status.get_attribute("data-status") == "closed" and "真实告警" in status.text
    shot(browser, "13-case-closed")

    # The English switch, kept for this user.
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "switch-language"))
    browser.get(f"{base}/alerts")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Alert queue"
    assert {e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.status")} == {"acknowledged"}
    shot(browser, "14-queue-en")
