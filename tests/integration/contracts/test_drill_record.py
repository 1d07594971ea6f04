"""Contract: the drill record and the backup site status, from the real producer to the real
consumers.

Producer: ``tulou backup run`` / ``verify`` (site status) and ``tulou drill run --inject`` (a
real ransomware drill on a sandbox, SM2-signed record) with their default locations under the
data directory. Consumers: ``tulou drill verify``, ``tulou report drill`` and ``tulou report
compliance``, whose backup clauses must be judged on exactly that drill and those sites.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.backup.conftest import Sandbox
from tulou.contracts import backup_status
from tulou.contracts import drill as drill_contract


@pytest.fixture
def data_dir(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = sandbox.root / "var"
    monkeypatch.setenv("TULOU_DATA_DIR", str(data))
    monkeypatch.setenv("TULOU_MASTER_PASSPHRASE", "report signing passphrase 42")
    monkeypatch.chdir(sandbox.root)  # relative defaults must not matter
    return data


def _backed_up(sb: Sandbox) -> str:
    init = sb.tulou("backup", "init", "--policy", str(sb.policy), "--kdf-iterations", "2000")
    pin = str(init["signing_key_fingerprint"])
    sb.policy.write_text(f'signing_key_fingerprint = "{pin}"\n' + sb.policy.read_text())
    sb.tulou("backup", "run", "--policy", str(sb.policy))
    for site in ("primary", "secondary"):
        sb.tulou("backup", "verify", "--policy", str(sb.policy), "--site", site)
    return pin


def _drill(sb: Sandbox) -> dict[str, Any]:
    result = sb.tulou(
        "drill", "run", "ransomware", "--policy", str(sb.policy), "--inject",
        "--scratch", str(sb.root / "scratch"),
    )  # fmt: skip
    assert result["outcome"] == "passed", result
    return dict(result)


def _today() -> str:
    day = datetime.now(UTC).date()
    return f"{day}..{day}"


def _clauses(report_dir: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((report_dir / "report.json").read_text())
    return {c["id"]: c for c in doc["clauses"]}


def test_the_drill_that_ran_is_the_drill_the_reports_read(sandbox: Sandbox, data_dir: Path) -> None:
    pin = _backed_up(sandbox)
    drill = _drill(sandbox)
    record_path = Path(drill["record"])
    assert record_path.parent == drill_contract.directory(data_dir)

    verified = sandbox.tulou("drill", "verify", str(record_path), "--fingerprint", pin)
    assert verified["valid"] and verified["pinned"]

    out = sandbox.root / "drill-report"
    report = sandbox.tulou("report", "drill", drill["drill_id"][:12], "--out", str(out))
    assert report["record_signature_ok"] and report["rto_met"] and report["rpo_met"]
    shown = json.loads((out / "report.json").read_text())["drill"]
    assert (shown["id"], shown["scenario"], shown["outcome"]) == (
        drill["drill_id"],
        "ransomware",
        "passed",
    )
    assert shown["rto_achieved_s"] == drill["rto"]["achieved_seconds"]
    assert shown["rpo_achieved_s"] == drill["rpo"]["achieved_seconds"]
    assert shown["checks_passed"] == shown["checks_total"] == len(drill["checks"])
    assert sandbox.tulou("report", "verify", str(out))["ok"]

    compliance = sandbox.root / "compliance"
    sandbox.tulou("report", "compliance", "--period", _today(), "--out", str(compliance))
    doc = json.loads((compliance / "report.json").read_text())
    assert [d["id"] for d in doc["drills"]["drills"]] == [drill["drill_id"]]
    sites = {s["name"]: s for s in next(e for e in doc["evidence"] if e["key"] == "backup.sites")
             ["facts"]["sites"]}  # fmt: skip
    assert set(sites) == {"primary", "secondary"}
    assert all(s["verified"] and s["last_snapshot"] for s in sites.values())
    clauses = _clauses(compliance)
    for clause in ("mlps-8.1.10.11", "mlps-8.1.10.13"):
        assert clauses[clause]["status"] == "met", clauses[clause]["reason"]


def test_a_changed_record_or_a_failed_verify_is_not_evidence(
    sandbox: Sandbox, data_dir: Path
) -> None:
    _backed_up(sandbox)
    drill = _drill(sandbox)
    record_path = Path(drill["record"])
    document = json.loads(record_path.read_text())
    document["rto"]["achieved_seconds"] = 0.001  # a better RTO than the one measured
    record_path.write_text(json.dumps(document))
    sandbox.tulou("drill", "verify", str(record_path), "--policy", str(sandbox.policy), expect=5)
    (sandbox.root / "site-a" / "config").unlink()  # the primary site loses its repository
    sandbox.tulou("backup", "verify", "--policy", str(sandbox.policy), "--site", "primary",
                  expect=6)  # fmt: skip
    out = sandbox.root / "compliance"
    sandbox.tulou("report", "compliance", "--period", _today(), "--out", str(out))
    doc = json.loads((out / "report.json").read_text())
    (shown,) = doc["drills"]["drills"]
    assert not shown["signature_ok"] and "signature" in shown["signature_problem"]
    status = backup_status.load(backup_status.path(data_dir))
    assert {s.name: s.last_verified.ok for s in status.sites if s.last_verified} == {
        "primary": False,
        "secondary": True,
    }
    clauses = _clauses(out)
    assert clauses["mlps-8.1.10.13"]["status"] == "not_met"  # the one drill is not evidence
    # Backup management: one of the two required sites still verified (partly), no valid drill.
    backup = clauses["mlps-8.1.10.11"]
    assert backup["status"] == "partially_met"
    assert "2 个站点中有 1 个" in backup["reason"] and "1 次演练中有 0 次" in backup["reason"]
