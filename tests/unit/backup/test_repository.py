"""Repository round trips, deduplication, resumption, and detection of every kind of damage."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path

import pytest

from backup import checker
from backup.archiver import Archiver
from backup.keys import REPO_VERSION
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.local import LocalTarget
from backup.targets.memory import MemoryTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tulou.errors import NotFoundError, UsageError, VerificationError


def backup(repo: Repository, src: Path, parent: str | None = None) -> str:
    root = Archiver(repo).archive_root([("src", src)], parent)
    return repo.save_snapshot({"tree": root, "sources": {}})


def restore_latest(target: MemoryTarget, dest: Path) -> None:
    repo = Repository.open(target, PASSPHRASE)
    body = repo.snapshot_body(repo.snapshots()[-1])
    Restorer(repo).restore(body["tree"], dest)


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_roundtrip_restores_identical_files(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    backup(repo, src)
    restore_latest(target, tmp_path / "out")
    assert same_tree(src, tmp_path / "out" / "src")
    assert (tmp_path / "out" / "src" / "link").readlink() == Path("random.bin")


def test_duplicate_content_is_stored_once(repo: Repository, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    backup(repo, src)
    first = repo.stats.new_bytes
    logs = (src / "logs" / "auth.log").stat().st_size
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file() and not p.is_symlink())
    assert first < total - logs // 2  # copy.log deduplicated against auth.log
    again = Repository.open(repo.target, PASSPHRASE)
    backup(again, src)
    assert again.stats.new_blobs <= 1  # only the root tree can change (none here)
    assert again.stats.new_bytes < 10_000


def test_incremental_reads_only_changed_files(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    sid = backup(repo, src)
    (src / "logs" / "auth.log").write_text("changed\n" * 1000)
    repo2 = Repository.open(target, PASSPHRASE)
    parent_tree = repo2.snapshot_body(repo2.find_snapshot(sid))["tree"]
    archiver = Archiver(repo2)
    root = archiver.archive_root([("src", src)], parent_tree)
    repo2.save_snapshot({"tree": root})
    assert archiver.unchanged == 3 and archiver.bytes_read == 8000
    restore_latest(target, tmp_path / "out")
    assert same_tree(src, tmp_path / "out" / "src")


def test_incremental_rereads_a_file_replaced_with_same_size_and_mtime(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    log = src / "logs" / "auth.log"
    sid = backup(repo, src)
    st = log.stat()
    replacement = tmp_path / "replacement"
    replacement.write_bytes(b"x" * st.st_size)  # same size, new inode, then the same mtime
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, log)
    repo2 = Repository.open(target, PASSPHRASE)
    parent_tree = repo2.snapshot_body(repo2.find_snapshot(sid))["tree"]
    archiver = Archiver(repo2)
    repo2.save_snapshot({"tree": archiver.archive_root([("src", src)], parent_tree)})
    assert archiver.unchanged == 3 and archiver.bytes_read == st.st_size  # auth.log re-read
    restore_latest(target, tmp_path / "out")
    assert same_tree(src, tmp_path / "out" / "src")


def test_blob_ids_are_keyed(tmp_path: Path) -> None:
    a, b = MemoryTarget(), MemoryTarget()
    for t in (a, b):
        Repository.init(t, PASSPHRASE, kdf_iterations=1000)
    ra, rb = Repository.open(a, PASSPHRASE), Repository.open(b, PASSPHRASE)
    assert ra.codec.blob_id(b"same") != rb.codec.blob_id(b"same")


def test_wrong_passphrase_is_refused(repo: Repository, target: MemoryTarget) -> None:
    with pytest.raises(VerificationError, match="passphrase"):
        Repository.open(target, "not the passphrase")


def test_init_refuses_an_existing_repository(repo: Repository, target: MemoryTarget) -> None:
    with pytest.raises(UsageError):
        Repository.init(target, PASSPHRASE, kdf_iterations=1000)


def test_interrupted_backup_leaves_no_snapshot_and_resumes(
    target: MemoryTarget, tmp_path: Path
) -> None:
    Repository.init(
        target,
        PASSPHRASE,
        kdf_iterations=1000,
        chunk_min=16 << 10,
        chunk_avg=64 << 10,
        chunk_max=256 << 10,
    )
    src = make_tree(tmp_path / "src", size=12 << 20)
    repo = Repository.open(target, PASSPHRASE)
    repo.set_pack_size(512 << 10)

    class Interrupted(Exception):
        pass

    def crash(_pack: str) -> None:
        if repo.stats.packs == 9:  # after the first periodic index (every 8 packs)
            raise Interrupted

    repo.on_pack_saved = crash
    with pytest.raises(Interrupted):
        backup(repo, src)
    assert list(target.list("snapshots")) == []
    assert list(target.list("index"))  # the periodic index survived
    survived = Repository.open(target, PASSPHRASE)
    indexed = {e.blob_id for e in survived.index.entries()}
    indexed_bytes = sum(
        len(survived.load_blob(e.blob_type, e.blob_id)) for e in survived.index.entries()
    )
    assert indexed_bytes >= 3 << 20  # eight packs of at least 512 KiB each
    resumed = Repository.open(target, PASSPHRASE)
    backup(resumed, src)
    assert len(list(target.list("snapshots"))) == 1
    # The blobs of the 8 indexed packs were not stored again: the final index holds exactly
    # them plus the resumed run's new blobs (a blob stored twice would be counted twice).
    final = Repository.open(target, PASSPHRASE)
    assert indexed <= {e.blob_id for e in final.index.entries()}
    assert len(final.index) == len(indexed) + resumed.stats.new_blobs
    restore_latest(target, tmp_path / "out")
    assert same_tree(src, tmp_path / "out" / "src")


# -- damage: one flipped bit in each kind of object is detected, never restored silently ------


def _only(target: MemoryTarget, kind: str) -> str:
    names = [i.name for i in target.list(kind)]
    assert len(names) == 1, names
    return names[0]


def _packs_by_type(repo: Repository) -> dict[str, str]:
    return {entries[0].blob_type: pack for pack, entries in repo.index.packs.items()}


@pytest.fixture
def backed_up(repo: Repository, target: MemoryTarget, tmp_path: Path) -> MemoryTarget:
    backup(repo, make_tree(tmp_path / "src", size=200_000))
    return target


def test_flipped_config_byte_is_detected(backed_up: MemoryTarget) -> None:
    raw = backed_up.load("config", "config")
    offset = raw.index(b'"avg":') + 7  # a digit of the chunker's average size
    backed_up.corrupt("config", "config", offset)
    with pytest.raises(VerificationError):
        Repository.open(backed_up, PASSPHRASE)


def test_flipped_key_file_byte_is_detected(backed_up: MemoryTarget) -> None:
    name = _only(backed_up, "keys")
    raw = backed_up.load("keys", name)
    backed_up.corrupt("keys", name, raw.index(b'"sealed":"') + 20)
    with pytest.raises(VerificationError):
        Repository.open(backed_up, PASSPHRASE)


def test_flipped_snapshot_byte_is_detected(backed_up: MemoryTarget) -> None:
    name = _only(backed_up, "snapshots")
    raw = backed_up.load("snapshots", name)
    backed_up.corrupt("snapshots", name, raw.index(b'"time":"') + 10)
    repo = Repository.open(backed_up, PASSPHRASE)
    with pytest.raises(VerificationError, match="does not match its name"):
        repo.snapshots()
    # Even a forger who renames the file to the new digest fails the SM2 signature.
    from crypto import sm3

    data = backed_up.load("snapshots", name)
    backed_up.remove("snapshots", name)
    backed_up.save("snapshots", sm3.sm3(data).hex(), data)
    with pytest.raises(VerificationError, match="signature"):
        repo.snapshots()


def test_flipped_index_byte_is_detected(backed_up: MemoryTarget) -> None:
    name = _only(backed_up, "index")
    backed_up.corrupt("index", name, 40)
    with pytest.raises(VerificationError):
        Repository.open(backed_up, PASSPHRASE)


@pytest.mark.parametrize("where", ["data blob", "tree blob", "pack header"])
def test_flipped_pack_byte_is_detected_and_never_restored(
    backed_up: MemoryTarget, tmp_path: Path, where: str
) -> None:
    repo = Repository.open(backed_up, PASSPHRASE)
    packs = _packs_by_type(repo)
    pack = packs["tree" if where == "tree blob" else "data"]
    size = backed_up.stat("data", pack).size
    offset = size - 10 if where == "pack header" else 30
    backed_up.corrupt("data", pack, offset)
    repo = Repository.open(backed_up, PASSPHRASE)
    result = checker.check(repo, read_data=True)
    assert not result.to_dict()["ok"] and pack in result.damaged_packs
    dest = tmp_path / "out"
    if where == "pack header":
        # The index locates blobs, each authenticated on its own: the data is still intact,
        # so the restore succeeds with exactly the original bytes (verify reported the header).
        restore_latest(backed_up, dest)
        assert same_tree(tmp_path / "src", dest / "src")
        return
    with pytest.raises(VerificationError):
        restore_latest(backed_up, dest)
    if where == "data blob":  # the damaged file is absent, never present with wrong bytes
        src_files = {p.relative_to(tmp_path / "src") for p in (tmp_path / "src").rglob("*")}
        restored = (
            {p.relative_to(dest / "src") for p in (dest / "src").rglob("*")}
            if (dest / "src").exists()
            else set()
        )
        assert restored < src_files
        assert not list(dest.rglob(".tulou-partial-*"))
        for rel in restored:
            if (dest / "src" / rel).is_file() and not (dest / "src" / rel).is_symlink():
                assert (dest / "src" / rel).read_bytes() == (tmp_path / "src" / rel).read_bytes()


def test_structure_check_passes_on_a_healthy_repository(backed_up: MemoryTarget) -> None:
    result = checker.check(Repository.open(backed_up, PASSPHRASE), read_data=True)
    assert result.errors == [] and result.snapshots == 1 and result.packs_read == 2


def test_restore_refuses_a_non_empty_destination(backed_up: MemoryTarget, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(UsageError):
        restore_latest(backed_up, tmp_path / "busy")


def test_unknown_snapshot_is_not_found(backed_up: MemoryTarget) -> None:
    repo = Repository.open(backed_up, PASSPHRASE)
    with pytest.raises(NotFoundError):
        repo.find_snapshot("ffff")
    assert json.loads(backed_up.load("config", "config"))["version"] == REPO_VERSION


OLD_REPOS = Path(__file__).parent / "old_repos"


def test_a_repository_written_before_tree_version_2_still_verifies_and_restores(
    tmp_path: Path,
) -> None:
    """The fixture was written by main at 9848d9b (config version 2, version 1 trees)."""
    repo_dir = tmp_path / "old"
    shutil.copytree(OLD_REPOS / "v2-tree1", repo_dir)
    repo = Repository.open(LocalTarget(repo_dir), "old repository passphrase")
    assert repo.config.version == 2
    assert checker.check(repo, read_data=True).errors == []
    (header,) = repo.snapshots()
    out = tmp_path / "out"
    result = Restorer(repo).restore(str(repo.snapshot_body(header)["tree"]), out)
    assert result.errors == []
    src = out / "src"
    for i in range(5):  # the recipe of old_repos/README.md
        assert (src / "docs" / f"note-{i}.txt").read_text() == f"note {i}\n" * (100 * (i + 1))
    assert (src / "big.bin").read_bytes() == bytes(range(256)) * 1024 + b"tail"
    assert (src / "empty").read_bytes() == b""
    assert os.readlink(src / "link") == "docs/note-1.txt"
    assert (src / "docs" / "note-0.txt").stat().st_mode & 0o777 == 0o600
    assert (src / "big.bin").stat().st_mtime_ns == 1_700_000_000_123_456_789
    # And it takes new snapshots (version 2 trees) that read back with the old ones.
    again = Repository.open(LocalTarget(repo_dir), "old repository passphrase")
    sid = backup(again, src)
    assert (
        checker.check(Repository.open(LocalTarget(repo_dir), "old repository passphrase")).errors
        == []
    )
    assert sid in {h.snapshot_id for h in again.snapshots()}
