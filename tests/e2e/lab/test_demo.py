"""``tulou demo --ci``: the README's first command, on embedded defaults, checked end to end.

It starts the SOC and the city range, plays every scenario, logs in to the SOC web UI as the
analyst and finds a scenario alert in the queue; exit 0 only if all of that worked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_ci_passes_and_the_web_ui_shows_the_alerts(tmp_path: Path) -> None:
    env = {**os.environ, "TULOU_DATA_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "-m", "tulou", "--json", "demo", "--ci", "--port", str(_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["failed"] == 0 and data["passed"] == len(data["scenarios"]) > 0
    assert data["web_ui_alert"] in {t for s in data["scenarios"] for t in s["found"].values()}
    password = tmp_path / "var" / "soc" / "lab-analyst.password"
    assert password.stat().st_mode & 0o077 == 0
    assert password.read_text().strip() not in result.stdout + result.stderr  # --ci prints no login
