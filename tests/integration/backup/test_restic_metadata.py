"""Tulou against restic 0.14 on the same special-file tree (as root): whatever restic's restore
keeps, Tulou's keeps too, and Tulou keeps what restic 0.14 does not (the bytes of a symlink
target that is not UTF-8, holes). Both tools run for real: restic from Debian, Tulou's CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.special_tree import describe, differences, make_special_tree
from tests.integration.backup.conftest import Sandbox

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown and mknod need root")


def _restic(root: Path, src: Path) -> Path:
    restic = shutil.which("restic")
    assert restic, "restic is in scripts/debian-packages.txt"
    env = dict(os.environ, RESTIC_PASSWORD="restic passphrase", RESTIC_CACHE_DIR=str(root / "c"))
    repo = str(root / "restic-repo")
    for args in (
        ["init"],
        ["backup", str(src)],
        ["restore", "latest", "--target", str(root / "restic-out")],
    ):
        subprocess.run([restic, "-q", "-r", repo, *args], env=env, check=True)
    return root / "restic-out" / src.relative_to("/")


def test_tulou_restores_everything_restic_restores_and_more(sandbox: Sandbox) -> None:
    root = sandbox.root
    src = make_special_tree(root / "special")
    repo = str(root / "tulou-repo")
    sandbox.tulou("backup", "init", "--repo", repo, "--kdf-iterations", "2000")
    run = sandbox.tulou("backup", "run", "--repo", repo, str(src))
    assert run["warnings"] == [] and run["summary"]["special_files"] == 4
    restored = sandbox.tulou(
        "backup", "restore", "--repo", repo, "latest", "--target", str(root / "out")
    )
    assert restored["skipped"] == [f"{root / 'out' / 'special' / 'sock'}: socket not restored"]

    source = describe(src)
    tulou_out, restic_out = root / "out" / "special", _restic(root, src)
    by_tulou = differences(source, describe(tulou_out))
    by_restic = differences(source, describe(restic_out))
    assert by_tulou == {(b"sock", "exists")}  # neither tool can restore a socket
    assert by_tulou <= by_restic, f"restic kept what Tulou lost: {by_tulou - by_restic}"
    allocated = [(p / "sparse.img").stat().st_blocks * 512 for p in (tulou_out, restic_out)]
    assert allocated[0] <= min(allocated[1], 1 << 20)
