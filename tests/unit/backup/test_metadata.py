"""Metadata round trip (as root): every name, owner, mode, time, link, special file, xattr and
ACL of a special-file tree comes back from a Tulou snapshot; holes stay holes."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from backup.archiver import Archiver
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.local import LocalTarget
from tests.fixtures.special_tree import SPARSE_SIZE, describe, differences, make_special_tree
from tests.unit.backup.conftest import PASSPHRASE

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown and mknod need root")


@dataclass
class RoundTrip:
    src: Path
    out: Path
    archiver: Archiver
    restorer: Restorer


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    """One backup and one restore of the special-file tree, shared by this module's tests."""
    tmp = tmp_path_factory.mktemp("metadata")
    src = make_special_tree(tmp / "src")
    target = LocalTarget(tmp / "repo")
    repo = Repository.init(target, PASSPHRASE, kdf_iterations=1000)
    archiver = Archiver(repo)
    root = archiver.archive_root([("src", src)], None)
    repo.save_snapshot({"tree": root, "sources": {}})
    restorer = Restorer(Repository.open(target, PASSPHRASE))
    restorer.restore(root, tmp / "out")
    return RoundTrip(src, tmp / "out" / "src", archiver, restorer)


def test_every_attribute_of_a_special_file_tree_is_restored(round_trip: RoundTrip) -> None:
    archiver, restorer = round_trip.archiver, round_trip.restorer
    assert archiver.warnings == [] and archiver.failed == 0
    assert archiver.specials == 4  # the FIFO, two device nodes, the socket
    source, restored = describe(round_trip.src), describe(round_trip.out)
    # A socket exists only while a process listens on it: recorded, never restored.
    assert differences(source, restored) == {(b"sock", "exists")}
    assert any("sock" in s and "socket" in s for s in restorer.result.skipped)
    assert restorer.result.links == 2 and restorer.result.specials == 3
    acl = subprocess.run(
        ["getfacl", "--omit-header", "--numeric", "acl.txt", "acl-dir"],
        cwd=round_trip.out,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "user:1234:rw-" in acl and "group:5678:r--" in acl and "default:user:1234:rwx" in acl


def test_sparse_files_are_restored_with_their_holes(round_trip: RoundTrip) -> None:
    restored = (round_trip.out / "sparse.img").stat()
    assert restored.st_size == SPARSE_SIZE
    assert restored.st_blocks * 512 <= 1 << 20  # three 4 KiB extents, not 32 MiB


def test_hard_links_are_read_once(round_trip: RoundTrip) -> None:
    size = (round_trip.src / "hard-a").stat().st_size
    regular = sum(
        os.lstat(os.path.join(d, f)).st_size
        for d, _, fs in os.walk(os.fsencode(round_trip.src))
        for f in fs
        if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f))
    )
    assert round_trip.archiver.bytes_read == regular - 2 * size
