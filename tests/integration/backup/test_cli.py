"""``tulou backup ...`` end to end on two local sites: init, run, snapshots, verify, restore,
copy, forget, prune, repair, and the exit codes of the failure paths."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
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


def _names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_include_exclude_at_backup_time(sandbox: Sandbox, tmp_path: Path) -> None:
    sb = sandbox
    src = tmp_path / "project"
    (src / "build").mkdir(parents=True)
    (src / "build" / "app.o").write_bytes(b"o" * 100)
    (src / "build" / "keep.o").write_bytes(b"k" * 100)
    (src / "notes.tmp").write_text("scratch")
    (src / "video.mp4").write_bytes(b"v" * 200_000)
    (src / "src.py").write_text("print('hi')\n")
    cache = src / "thumbnails"
    cache.mkdir()
    (cache / "CACHEDIR.TAG").write_bytes(
        b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n"
    )
    (cache / "thumb-1.png").write_bytes(b"p" * 100)
    not_a_cache = src / "fake-cache"
    not_a_cache.mkdir()
    (not_a_cache / "CACHEDIR.TAG").write_text("no signature here\n")
    (not_a_cache / "data.txt").write_text("kept\n")
    listing = tmp_path / "exclude.txt"
    listing.write_text("# compiled objects\n*.o\n!keep.o\n")
    sb.policy.write_text(sb.policy.read_text() + '\n[filters]\nexclude = ["*.tmp"]\n')
    _init(sb)
    result = sb.tulou(
        "backup", "run", "--policy", str(sb.policy), str(src),
        "--exclude-file", str(listing), "--exclude-caches", "--exclude-larger-than", "100k",
    )  # fmt: skip
    # app.o, notes.tmp (the policy's *.tmp applies too), video.mp4, thumb-1.png, and the
    # 1 MB files/blob.bin of the policy's path source (filters apply to every path source)
    assert result["summary"]["excluded"] == 5
    out = tmp_path / "out"
    sb.tulou("backup", "restore", "--policy", str(sb.policy), "latest", "--target", str(out),
             "--include", "project")  # fmt: skip
    assert _names(out / "project") == {
        "build", "build/keep.o", "src.py", "thumbnails", "thumbnails/CACHEDIR.TAG",
        "fake-cache", "fake-cache/CACHEDIR.TAG", "fake-cache/data.txt",
    }  # fmt: skip
    snap = sb.tulou("backup", "snapshots", "--policy", str(sb.policy))[-1]
    assert snap["summary"]["excluded"] == 5
    # The database copy is never filtered, whatever its size.
    assert (out / "soc-db").exists() is False
    sb.tulou("backup", "restore", "--policy", str(sb.policy), "latest", "--target",
             str(tmp_path / "db"), "--include", "soc-db")  # fmt: skip
    assert (tmp_path / "db" / "soc-db" / "soc.db").stat().st_size > 0


def test_a_name_that_is_not_utf8_is_backed_up_and_restored_exactly(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = sandbox
    name = b"r\xe9sum\xe9\n2026.txt"  # Latin-1 bytes and a newline
    with open(os.path.join(os.fsencode(sb.files), name), "wb") as handle:
        handle.write(b"bytes are names\n")
    _init(sb)
    result = sb.tulou("backup", "run", "--policy", str(sb.policy))
    assert result["summary"]["files"] == 23 and result["warnings"] == []
    out = tmp_path / "out"
    sb.tulou("backup", "restore", "--policy", str(sb.policy), "latest", "--target", str(out))
    restored = os.path.join(os.fsencode(out), b"files", name)
    with open(restored, "rb") as handle:
        assert handle.read() == b"bytes are names\n"
    assert sb.tulou("backup", "verify", "--policy", str(sb.policy), "--read-data")["ok"]


def _without_dac(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI as root without the capabilities that let root read anyone's files."""
    return subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
         sys.executable, "-m", "tulou.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop its capabilities")
def test_text_output_says_what_was_not_backed_up_and_exits_4(tmp_path: Path) -> None:
    """Unreadable entries are listed, named exactly, and the run exits 4 with a snapshot of
    everything else."""
    src = tmp_path / "data"
    (src / "locked-dir").mkdir(parents=True)
    (src / "readable.txt").write_text("ok\n")
    secret = os.path.join(os.fsencode(src), b"secr\xe9t.key")
    with open(secret, "wb") as handle:
        handle.write(b"someone else's\n")
    (src / "locked-dir" / "inside.txt").write_text("x\n")
    for path in (secret, src / "locked-dir"):
        os.chown(path, 1234, 1234)
        os.chmod(path, 0o700)
    os.mkfifo(src / "pipe")
    repo = tmp_path / "repo"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "TULOU_BACKUP_PASSPHRASE": "a passphrase here"}
    init = _without_dac("backup", "init", "--repo", str(repo), "--kdf-iterations", "2000",
                        cwd=root, env=env)  # fmt: skip
    assert init.returncode == 0, init.stderr
    run = _without_dac("backup", "run", "--repo", str(repo), str(src), cwd=root, env=env)
    assert run.returncode == 4, run.stdout + run.stderr
    assert "2 could not be read (NOT in the snapshot)" in run.stdout
    assert "secr\\xe9t.key: not backed up: Permission denied" in run.stdout
    assert "locked-dir: cannot list: Permission denied" in run.stdout
    assert "saved, but 2 entries could not be backed up" in run.stderr
    listed = _without_dac("--json", "backup", "snapshots", "--repo", str(repo), cwd=root, env=env)
    (snap,) = json.loads(listed.stdout)
    assert snap["summary"]["errors"] == 2 and snap["summary"]["special_files"] == 1
