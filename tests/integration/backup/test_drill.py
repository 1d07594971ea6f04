"""Every drill scenario end to end through ``tulou drill run --inject``: the incident really
happens in the sandbox, recovery is timed and checked, the record is SM2-signed and verifies,
and a drill that misses its objective alerts the SOC over HTTP."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from crypto.sm2 import SM2PrivateKey
from tests.integration.backup.conftest import Sandbox
from tulou.contracts import drill as drill_record


def _ready(sb: Sandbox) -> str:
    init = sb.tulou("backup", "init", "--policy", str(sb.policy), "--kdf-iterations", "2000")
    pin = init["signing_key_fingerprint"]
    sb.policy.write_text(f'signing_key_fingerprint = "{pin}"\n' + sb.policy.read_text())
    sb.tulou("backup", "run", "--policy", str(sb.policy))
    return str(pin)


def _drill(sb: Sandbox, scenario: str, *extra: str, expect: int = 0) -> Any:
    return sb.tulou(
        "drill",
        "run",
        scenario,
        "--policy",
        str(sb.policy),
        "--inject",
        "--records",
        str(sb.root / "records"),
        "--scratch",
        str(sb.root / f"scratch-{scenario}"),
        *extra,
        expect=expect,
    )


def _record(sb: Sandbox) -> Path:
    records = sorted((sb.root / "records").glob("drill-*.json"))
    assert len(records) == 1
    return records[0]


def _assert_passed(sb: Sandbox, result: Any, pin: str) -> None:
    assert result["outcome"] == "passed", result
    assert result["checks"] and all(c["ok"] for c in result["checks"])
    assert result["rto"]["met"] and result["rpo"]["met"]
    assert 0 < result["rto"]["achieved_seconds"] < 600
    assert 0 <= result["rpo"]["achieved_seconds"] < 3600
    assert all(p["ok"] and p["seconds"] >= 0 for p in result["phases"])
    verified = sb.tulou("drill", "verify", str(_record(sb)), "--policy", str(sb.policy))
    assert verified["valid"] and verified["pinned"] and verified["signer"] == pin
    assert verified["rto"] == result["rto"] and verified["rpo"] == result["rpo"]


def test_site_loss(sandbox: Sandbox) -> None:
    pin = _ready(sandbox)
    result = _drill(sandbox, "site-loss")
    _assert_passed(sandbox, result, pin)
    assert result["restore_point"]["site"] == "secondary"
    assert sandbox.tulou("backup", "verify", "--policy", str(sandbox.policy), "--read-data")["ok"]


def test_ransomware_restores_the_last_good_snapshot(sandbox: Sandbox) -> None:
    pin = _ready(sandbox)
    result = _drill(sandbox, "ransomware")
    _assert_passed(sandbox, result, pin)
    restored = next((sandbox.root / "scratch-ransomware").glob("restore-*"))
    assert (restored / "files" / "docs" / "permit-0.txt").read_text() == "permit 0\n" * 200
    assert (sandbox.files / "docs" / "permit-0.txt").read_bytes() != b"permit 0\n" * 200


def test_corrupted_object_is_repaired_from_another_site(sandbox: Sandbox) -> None:
    pin = _ready(sandbox)
    result = _drill(sandbox, "corrupted-object")
    _assert_passed(sandbox, result, pin)
    detect = next(p for p in result["phases"] if p["name"].startswith("detect"))
    assert detect["detail"]["secondary"] and not detect["detail"]["primary"]
    assert sandbox.tulou(
        "backup", "verify", "--policy", str(sandbox.policy), "--site", "secondary", "--read-data"
    )["ok"]


def test_soc_database_loss(sandbox: Sandbox) -> None:
    pin = _ready(sandbox)
    result = _drill(sandbox, "soc-db-loss")
    _assert_passed(sandbox, result, pin)
    con = sqlite3.connect(sandbox.db)
    assert con.execute("SELECT count(*) FROM alerts").fetchone()[0] == 500
    con.close()


def test_tampered_record_does_not_verify(sandbox: Sandbox) -> None:
    _ready(sandbox)
    _drill(sandbox, "soc-db-loss")
    path = _record(sandbox)
    record = json.loads(path.read_text())
    record["rto"]["achieved_seconds"] = 0.001
    path.write_text(json.dumps(record))
    sandbox.tulou("drill", "verify", str(path), "--policy", str(sandbox.policy), expect=5)


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, self.headers.get("Authorization", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"created": 1, "grouped": 0, "duplicates": 0, "rejected": []}')

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def soc_inbox() -> Iterator[tuple[str, list[tuple[str, str, dict[str, Any]]]]]:
    _Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Recorder.received
    finally:
        server.shutdown()
        server.server_close()


def test_missed_objective_alerts_the_soc(
    sandbox: Sandbox, soc_inbox: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = soc_inbox
    monkeypatch.setenv("TULOU_SOC_TOKEN", "service-token-for-test")
    sandbox.policy.write_text(
        sandbox.policy.read_text().replace("rto_seconds = 600", "rto_seconds = 0.000001")
    )
    _ready(sandbox)
    error = _drill(sandbox, "soc-db-loss", "--soc-url", url, expect=5)
    assert "missed_objective" in error["error"]
    assert len(received) == 1
    path, auth, body = received[0]
    assert path == "/api/v1/alerts/ingest" and auth == "Bearer service-token-for-test"
    alert = body["alerts"][0]
    assert alert["level"] == "medium" and alert["dedup_key"] == "backup-drill:soc-db-loss"
    assert alert["fields"]["drill.rto"]["met"] is False
    record = json.loads(_record(sandbox).read_text())
    assert record["outcome"] == "missed_objective" and alert["event_ids"] == [record["drill_id"]]


def test_failed_drill_without_soc_url_still_writes_a_record(sandbox: Sandbox) -> None:
    _ready(sandbox)
    sandbox.db.unlink()  # the source is gone before the drill: restore still works
    text = sandbox.policy.read_text().replace('kind = "sqlite"', 'kind = "path"')
    sandbox.policy.write_text(text)
    error = _drill(sandbox, "es-index-loss", expect=5)  # no elasticsearch source: fails
    assert "failed" in error["error"] and "no SOC URL" in error["error"]
    assert json.loads(_record(sandbox).read_text())["outcome"] == "failed"


# -- what a record proves (issue 23 finding 6) ---------------------------------------------


def _resign_with_a_fresh_key(path: Path) -> str:
    """Re-sign the record, unchanged, with a new SM2 key, as anyone could; its fingerprint."""
    key = SM2PrivateKey.generate()
    document = json.loads(path.read_text())
    body = {k: v for k, v in document.items() if k not in ("signature", "signer")}
    path.write_text(json.dumps(drill_record.seal(body, key)))
    return key.public_key().fingerprint()


def test_a_record_re_signed_with_another_key_fails_unless_that_key_is_named(
    sandbox: Sandbox,
) -> None:
    sb = sandbox
    sb.tulou("backup", "init", "--policy", str(sb.policy), "--kdf-iterations", "2000")
    sb.tulou("backup", "run", "--policy", str(sb.policy))  # the policy pins no fingerprint
    _drill(sb, "soc-db-loss")
    path = _record(sb)
    genuine = sb.tulou("drill", "verify", str(path), "--policy", str(sb.policy))
    assert genuine["pinned_by"] == "repository at primary"  # the fallback to the repository
    by_repo = sb.tulou("drill", "verify", str(path), "--repo", str(sb.root / "site-b"))
    assert by_repo["signer"] == genuine["signer"]
    fresh = _resign_with_a_fresh_key(path)
    error = sb.tulou("drill", "verify", str(path), "--policy", str(sb.policy), expect=5)
    assert "another key" in error["error"] or "pinned" in error["error"]
    sb.tulou("drill", "verify", str(path), expect=2)  # nothing to pin to: not checked at all
    named = sb.tulou("drill", "verify", str(path), "--fingerprint", fresh)
    assert named["signer"] == fresh and named["pinned_by"] == "--fingerprint"


def test_checks_compare_real_values_and_the_incident_precedes_the_end(sandbox: Sandbox) -> None:
    sb = sandbox
    _ready(sb)
    result = _drill(sb, "ransomware")
    (files_check,) = [c for c in result["checks"] if c["name"] == "files: files restored"]
    source_files = [p for p in sb.files.rglob("*") if p.is_file()]  # before the drill's damage
    assert files_check["expected"]["files"] == len(source_files) == 21
    assert files_check["actual"] == files_check["expected"] and files_check["ok"]
    assert files_check["expected"]["bytes"] > 1_000_000
    started, incident, finished = (
        datetime.fromisoformat(result[k].replace("Z", "+00:00"))
        for k in ("started", "incident_time", "finished")
    )
    assert started <= incident <= finished
    point = datetime.fromisoformat(result["restore_point"]["time"].replace("Z", "+00:00"))
    assert result["rpo"]["achieved_seconds"] == round((incident - point).total_seconds(), 3)
