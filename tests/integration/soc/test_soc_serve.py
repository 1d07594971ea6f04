"""``tulou soc serve`` as an operator starts it: one process, and ``--workers 2`` (two real
uvicorn worker processes built by the app factory) serving the same database (ingest through
one, read back through any)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from soc import auth
from soc.db import Database, default_url
from tulou.contracts.alert import Alert


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


RULES = Path(__file__).resolve().parents[3] / "rules"


def deployed_techniques() -> set[str]:
    """ATT&CK techniques the repository's rules name, read here independently of soc.rules."""
    found = set()
    for path in RULES.rglob("*.yml"):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and "id" in doc and "title" in doc:
                for tag in doc.get("tags") or []:
                    tag = str(tag).lower()
                    if tag.startswith("attack.t") and tag[8:9].isdigit():
                        found |= {tag, tag.split(".")[0] + "." + tag.split(".")[1]}
    return found


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_workers_serve_one_database(tmp_path, workers):
    db = Database(default_url(tmp_path))
    db.upgrade()
    with db.write() as session:
        auth.create_user(session, "detect", "service", None)
        auth.create_user(session, "ana", "analyst", "a password that is long enough")
        service = auth.create_token(session, "detect", "ingest")
        analyst = auth.create_token(session, "ana", "read")
    db.dispose()
    port = _free_port()
    env = {**os.environ, "TULOU_DATA_DIR": str(tmp_path), "TULOU_SOC_RULES": str(RULES)}
    env.pop("TULOU_DB_URL", None)
    env.pop("TULOU_CONFIG", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tulou",
            "soc",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        assert len(_children(server.pid)) == (workers if workers > 1 else 0)
        alert = Alert(
            rule_id="r-1",
            rule_hash="0" * 64,
            title="brute force",
            level="high",
            event_ids=("e1",),
            dedup_key="k1",
            first_seen="2026-01-01T00:00:00Z",
            last_seen="2026-01-01T00:00:00Z",
        )
        r = httpx.post(
            f"{base}/api/v1/alerts/ingest",
            json={"alerts": [alert.to_dict()]},
            headers={"Authorization": f"Bearer {service}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 1
        headers = {"Authorization": f"Bearer {analyst}"}
        # Enough requests on fresh connections that both workers answer some.
        for _ in range(10):
            page = httpx.get(f"{base}/api/v1/alerts", headers=headers).json()
            assert [a["title"] for a in page["items"]] == ["brute force"]
        metrics = httpx.get(f"{base}/api/v1/metrics?days=366", headers=headers)
        assert metrics.status_code == 200
        # Finding 5: the ATT&CK catalogue is the deployed rules, loaded when serve starts.
        coverage = metrics.json()["attack_coverage"]
        assert coverage["covered"] == len(deployed_techniques()) > 20
        assert "unknown-tactic" not in coverage["matrix"]
        assert httpx.get(f"{base}/api/v1/alerts").status_code == 401
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert f"{workers} process(es)".encode() in err
