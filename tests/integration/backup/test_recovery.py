"""Recovery through the CLI (issue 23 finding 4): the index rebuilt from packs, reads from a
really read-only site, fail-over when the first site is gone, a full disk named as such.

The read-only site and the full disk are real: a read-only bind mount and a 2 MiB tmpfs, each
in a private mount namespace (``unshare -m``) so nothing outside the test sees them."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.backup.conftest import PASSPHRASE, Sandbox

ROOT = Path(__file__).resolve().parents[3]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


def _init_run(sb: Sandbox) -> None:
    sb.tulou("backup", "init", "--policy", str(sb.policy), "--kdf-iterations", "2000")
    sb.tulou("backup", "run", "--policy", str(sb.policy))


def test_repair_index_restores_a_single_site_with_a_flipped_index_byte(sandbox: Sandbox) -> None:
    sb = sandbox
    repo = str(sb.root / "single")
    sb.tulou("backup", "init", "--repo", repo, "--kdf-iterations", "2000")
    sb.tulou("backup", "run", "--repo", repo, str(sb.files))
    (index,) = (sb.root / "single" / "index").iterdir()
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0x04
    index.chmod(0o600)
    index.write_bytes(bytes(data))
    error = sb.tulou("backup", "restore", "--repo", repo, "latest", "--target",
                     str(sb.root / "no"), expect=5)  # fmt: skip
    assert "repair --index" in error["error"]
    repaired = sb.tulou("backup", "repair", "--repo", repo, "--index")
    assert repaired["ok"] and repaired["index_files_removed"] == 1 and repaired["packs"] >= 2
    assert sb.tulou("backup", "verify", "--repo", repo, "--read-data")["ok"]
    out = sb.root / "out"
    sb.tulou("backup", "restore", "--repo", repo, "latest", "--target", str(out))
    assert (out / "city-app" / "blob.bin").read_bytes() == (sb.files / "blob.bin").read_bytes()


def test_repair_needs_from_or_index(sandbox: Sandbox) -> None:
    _init_run(sandbox)
    sandbox.tulou("backup", "repair", "--policy", str(sandbox.policy), "--site", "secondary",
                  expect=2)  # fmt: skip


def _namespaced(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a private mount namespace, ``$TULOU`` being the CLI."""
    tulou = f"{shlex.quote(sys.executable)} -m tulou.cli"
    return subprocess.run(
        ["unshare", "-m", "sh", "-ec", f"TULOU={shlex.quote(tulou)}\n{script}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


@needs_root
def test_no_lock_reads_a_read_only_site(sandbox: Sandbox) -> None:
    sb = sandbox
    _init_run(sb)
    site = shlex.quote(str(sb.root / "site-b"))
    policy = shlex.quote(str(sb.policy))
    out = sb.root / "out"
    env = {**os.environ, "TULOU_BACKUP_PASSPHRASE": PASSPHRASE}
    done = _namespaced(
        f"mount --bind -o ro {site} {site}\n"
        f"if $TULOU --json backup restore --policy {policy} --site secondary latest "
        f"--target {out}/locked >{sb.root}/locked.json; then exit 10; fi\n"
        f"$TULOU --json backup restore --policy {policy} --site secondary latest "
        f"--target {out}/nolock --no-lock\n"
        f"$TULOU --json backup verify --policy {policy} --site secondary --read-data --no-lock "
        f">{sb.root}/verify.json\n"
        f"touch {site}/x 2>/dev/null && exit 11 || true\n",
        env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    locked = json.loads((sb.root / "locked.json").read_text())
    assert locked["exit_code"] == 7 and "Read-only file system" in locked["error"]
    assert "--no-lock" in locked["error"]
    verified = json.loads((sb.root / "verify.json").read_text())
    assert verified["ok"] and verified["packs_read"] >= 1
    restored = out / "nolock" / "files" / "blob.bin"
    assert restored.read_bytes() == (sb.files / "blob.bin").read_bytes()


def test_run_fails_over_when_the_first_site_is_missing(sandbox: Sandbox) -> None:
    sb = sandbox
    _init_run(sb)
    shutil.rmtree(sb.root / "site-a")  # the primary's disk is gone
    result = sb.tulou("backup", "run", "--policy", str(sb.policy))
    assert result["site"] == "secondary"
    assert result["sites"]["secondary"] == "written"
    assert result["sites"]["primary"].startswith("unavailable: no repository")
    rows = sb.tulou("backup", "snapshots", "--policy", str(sb.policy), "--site", "secondary")
    assert rows[-1]["id"] == result["snapshot"] and len(rows) == 2


@needs_root
def test_a_full_repository_disk_is_named_not_the_source_file(sandbox: Sandbox) -> None:
    sb = sandbox
    big = sb.root / "big.bin"
    big.write_bytes(os.urandom(6 << 20))
    repo = sb.root / "small-disk"
    repo.mkdir()
    env = {**os.environ, "TULOU_BACKUP_PASSPHRASE": PASSPHRASE}
    r = shlex.quote(str(repo))
    done = _namespaced(
        f"mount -t tmpfs -o size=2m tmpfs {r}\n"
        f"$TULOU backup init --repo {r}/repo --kdf-iterations 2000 >/dev/null\n"
        f"$TULOU --json backup run --repo {r}/repo {shlex.quote(str(big))} || echo rc=$?\n",
        env,
    )
    assert "rc=7" in done.stdout, done.stdout + done.stderr
    error = json.loads(done.stdout[: done.stdout.rindex("rc=")])
    assert "No space left on device" in error["error"]
    assert f"local:{repo}/repo" in error["error"] and "big.bin" not in error["error"]
