"""``tulou demo --ci``: the README's first command, on embedded defaults, checked end to end.

It starts the SOC and the city range, plays every scenario, logs in to the SOC web UI as the
analyst and finds a scenario alert in the queue; exit 0 only if all of that worked. Then the
README's report command runs on what the demo left: the report sources the demo wrote, the
gateway's audit, the rules, the event store and the ransomware scenario's real drill.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tulou(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tulou", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def _quarter() -> str:
    now = datetime.now(UTC)  # at run time: a run may cross a quarter's end
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


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

    # The README's report command on the demo's data: a meaningful report, not 23 of 36 unmet.
    env["TULOU_MASTER_PASSPHRASE"] = "demo-e2e-passphrase"
    sources = Path(data["report_sources"])
    assert sources == tmp_path / "var" / "reports" / "sources.yaml"
    out = tmp_path / "report"
    _tulou(env, "report", "compliance", "--period", _quarter(), "--out", str(out))
    assert _tulou(env, "report", "verify", str(out))["ok"] is True
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    clauses = {c["id"]: c for c in report["clauses"]}
    evidence = {e["key"]: e for e in report["evidence"]}
    for key in ("gateway.coverage", "gateway.decisions", "gateway.mtls", "detect.rules"):
        assert evidence[key]["available"], evidence[key]["problem"]
    assert evidence["gateway.coverage"]["facts"]["share"] == 1.0  # every range app is routed
    assert evidence["gateway.decisions"]["facts"]["total"] > 0  # the scenarios' requests
    # The ransomware scenario's drill is the one in the backup clauses, and in its own report.
    drills = evidence["backup.drills"]["facts"]["drills"]
    assert [d["scenario"] for d in drills] == ["ransomware"]
    assert drills[0]["outcome"] == "passed" and drills[0]["signature_ok"]
    assert clauses["mlps-8.1.10.13"]["status"] == "met", clauses["mlps-8.1.10.13"]
    sites = evidence["backup.sites"]["facts"]["sites"]
    assert {s["name"] for s in sites} == {"primary", "second"}
    assert all(s["verified"] and s["read_data"] for s in sites)  # the scenario verified both
    assert clauses["mlps-8.1.10.11"]["status"] == "met", clauses["mlps-8.1.10.11"]
    not_met = [c for c in report["clauses"] if c["status"] == "not_met"]
    assert len(not_met) <= 4, [(c["id"], c["reason"]) for c in not_met]
    drill = _tulou(env, "report", "drill", drills[0]["id"], "--out", str(tmp_path / "drill"))
    assert drill["ok"] is True
    document = json.loads((tmp_path / "drill" / "report.json").read_text(encoding="utf-8"))
    assert document["drill"]["id"] == drills[0]["id"]
    assert document["drill"]["rto_met"] and document["drill"]["rpo_met"]
