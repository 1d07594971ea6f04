"""The demo's SOC in Debian's Chromium: log in, see the scenario alerts, triage one.

``tulou demo`` (not --ci) runs as an operator starts it: it plays two scenarios (one through the
live gateway, one from logs), prints its JSON summary and stays up. The browser logs in with the
analyst password the demo keeps under the data dir, finds a scenario alert in the queue, opens it
and acknowledges it. Then SIGTERM must stop everything (the SOC's port is free again).
Screenshots go to test-artifacts/lab-demo/ (docs/images/soc-demo.png is one of them).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.scenarios import all_scenarios
from tests.fixtures.browser import click_and_wait_for_new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pick() -> list[str]:
    attacks = [s for s in all_scenarios() if s.expects]
    offline = next(s.name for s in attacks if not s.needs_range)
    live = next(s.name for s in attacks if s.needs_range)
    return [offline, live]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, Any], subprocess.Popen[str]]]:
    port = _port()
    args = [sys.executable, "-m", "tulou", "--json", "demo", "--port", str(port)]
    for name in _pick():
        args += ["--scenario", name]
    env = {**os.environ, "TULOU_DATA_DIR": str(tmp_path / "var")}
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                pytest.fail(f"the demo exited with {process.wait()}: {''.join(lines)}")
            lines.append(line)
            if line.rstrip() == "}":
                break
        summary = json.loads("".join(lines))
        password = (tmp_path / "var" / "soc" / "lab-analyst.password").read_text().strip()
        yield f"http://127.0.0.1:{port}", password, summary, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        if process.stdout is not None:
            process.stdout.close()


def test_log_in_see_the_scenario_alerts_and_triage_one(demo, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, password, summary, process = demo
    assert summary["ok"], json.dumps(summary, indent=1)
    titles = {t for s in summary["scenarios"] for t in s["found"].values()}
    assert titles

    browser.get(f"{base}/alerts")
    assert "/login" in browser.current_url
    browser.find_element(By.ID, "username").send_keys("analyst")
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "login").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("/alerts"))
    queue = browser.find_element(By.TAG_NAME, "body").text
    seen = {t for t in titles if t in queue}
    assert seen == titles, f"missing from the queue: {titles - seen}"
    screenshot(browser, "lab-demo", "soc-demo")

    link = browser.find_elements(By.CSS_SELECTOR, "a.alert-link")[0]
    browser.get(link.get_attribute("href"))
    screenshot(browser, "lab-demo", "soc-demo-alert-open")
    assert "Evidence" in browser.page_source or "events" in browser.page_source
    click_and_wait_for_new_page(browser, browser.find_element(By.ID, "move-acknowledged"))
    status = browser.find_element(By.ID, "alert-status")
    assert status.get_attribute("data-status") == "acknowledged"
    assert status.text == "已确认"  # the analyst's UI is Simplified Chinese by default
    screenshot(browser, "lab-demo", "soc-demo-alert")

    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    port = int(base.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the SOC is still listening"
