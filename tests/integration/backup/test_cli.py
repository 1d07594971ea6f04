"""``tulou backup ...`` end to end on two local sites: init, run, snapshots, verify, restore,
copy, forget, prune, repair, and the exit codes of the failure paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.integration.backup.conftest import Sandbox


def _init(sb: Sandbox) -> Any:
    result = sb.tulou("backup", "init", "--policy", str(sb.policy), "--kdf-iterations", "2000")
    assert set(result["sites"]) == {"primary", "secondary"}
    return result


def test_backup_lifecycle(sandbox: Sandbox) -> None:
    sb, policy = sandbox, str(sandbox.policy)
    _init(sb)
    first = sb.tulou("backup", "run", "--policy", policy, "--tag", "nightly")
    assert first["sites"] == {"primary": "written", "secondary": first["sites"]["secondary"]}
    assert first["sites"]["secondary"].startswith("copied")
    assert first["summary"]["files"] == 22
    (sb.files / "docs" / "permit-3.txt").write_text("amended\n")
    second = sb.tulou("backup", "run", "--policy", policy)
    assert second["parent"] == first["snapshot"]
    assert second["summary"]["unchanged_files"] >= 20 and second["new_bytes"] < 100_000
    for site in ("primary", "secondary"):
        rows = sb.tulou("backup", "snapshots", "--policy", policy, "--site", site)
        assert [r["id"] for r in rows] == [first["snapshot"], second["snapshot"]]
        assert rows[0]["tags"] == ["nightly"] and rows[0]["sources"] == ["files", "soc-db"]
        assert sb.tulou("backup", "verify", "--policy", policy, "--site", site, "--read-data")["ok"]
    public = sb.tulou("backup", "snapshots", "--policy", policy, "--no-key")
    assert all(r["signature"] == "ok" for r in public) and "sources" not in public[0]

    out = sb.root / "restored"
    restored = sb.tulou(
        "backup",
        "restore",
        "--policy",
        policy,
        "--site",
        "secondary",
        first["snapshot"][:12],
        "--target",
        str(out),
    )
    assert restored["files"] == 22  # 21 files + the database copy
    assert (out / "files" / "docs" / "permit-3.txt").read_text() == "permit 3\n" * 203
    con = sqlite3.connect(out / "soc-db" / "soc.db")
    assert con.execute("SELECT count(*) FROM alerts").fetchone()[0] == 500
    con.close()

    kept = sb.tulou("backup", "forget", "--policy", policy, "--keep-last", "1", "--prune")
    assert kept["removed"] == [first["snapshot"]] and kept["prune"]["packs_deleted"] >= 0
    assert sb.tulou("backup", "verify", "--policy", policy, "--read-data")["ok"]
    copied = sb.tulou(
        "backup", "copy", "--policy", policy, "--from", "secondary", "--to", "primary"
    )
    assert copied["snapshots"] == 1  # the forgotten one comes back from the other site
    assert sb.tulou("backup", "prune", "--policy", policy, "--dry-run")["dry_run"] is True


def test_wrong_passphrase_exits_5(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    _init(sandbox)
    monkeypatch.setenv("TULOU_BACKUP_PASSPHRASE", "a wrong passphrase")
    error = sandbox.tulou("backup", "snapshots", "--policy", str(sandbox.policy), expect=5)
    assert "passphrase" in error["error"]
    assert "a wrong passphrase" not in json.dumps(error)


def test_damaged_site_fails_verify_and_is_repaired(sandbox: Sandbox) -> None:
    sb, policy = sandbox, str(sandbox.policy)
    _init(sb)
    sb.tulou("backup", "run", "--policy", policy)
    pack = next((sb.root / "site-b" / "data").rglob("*"))
    while pack.is_dir():
        pack = next(pack.iterdir())
    data = bytearray(pack.read_bytes())
    data[100] ^= 0x20
    pack.chmod(0o600)
    pack.write_bytes(bytes(data))
    assert (
        sb.tulou(
            "backup", "verify", "--policy", policy, "--site", "secondary", "--read-data", expect=5
        )["ok"]
        is False
    )
    repaired = sb.tulou(
        "backup", "repair", "--policy", policy, "--site", "secondary", "--from", "primary"
    )
    assert repaired["ok"] and repaired["repaired"] == [f"data/{pack.name}"]
    assert sb.tulou("backup", "verify", "--policy", policy, "--site", "secondary", "--read-data")[
        "ok"
    ]


def test_usage_errors(sandbox: Sandbox, tmp_path: Path) -> None:
    sb = sandbox
    sb.tulou("backup", "snapshots", expect=2)  # no policy, no repo
    sb.tulou("backup", "snapshots", "--repo", str(tmp_path / "nothing"), expect=6)
    _init(sb)
    sb.tulou("backup", "init", "--policy", str(sb.policy), "--kdf-iterations", "2000", expect=2)
    sb.tulou(
        "backup",
        "restore",
        "--policy",
        str(sb.policy),
        "latest",
        "--target",
        str(tmp_path / "x"),
        expect=6,
    )
    sb.tulou("backup", "forget", "--policy", str(sb.policy), expect=2)


def test_append_only_site_refuses_forget(sandbox: Sandbox) -> None:
    sb = sandbox
    text = sb.policy.read_text().replace(
        'name = "secondary"', 'name = "secondary"\nappend_only = true'
    )
    sb.policy.write_text(text)
    _init(sb)
    sb.tulou("backup", "run", "--policy", str(sb.policy))
    sb.tulou(
        "backup",
        "forget",
        "--policy",
        str(sb.policy),
        "--site",
        "secondary",
        "--keep-last",
        "1",
        expect=8,
    )
    sb.tulou("backup", "prune", "--policy", str(sb.policy), "--site", "secondary", expect=8)
