"""Worker-process verify and restore: same results as inline, and every kind of damage caught."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from backup import checker
from backup.archiver import Archiver
from backup.pack import BlobCodec
from backup.parallel import BlobPool, check_pack, open_blobs, use_threads, write_blobs
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.base import relative_path
from backup.targets.local import LocalTarget
from crypto import sm3, sm4
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tests.unit.backup.test_repository import same_tree
from tulou.errors import InputError, VerificationError


@pytest.fixture
def local(tmp_path: Path) -> tuple[LocalTarget, Path]:
    target = LocalTarget(tmp_path / "repo")
    repo = Repository.init(
        target, PASSPHRASE, kdf_iterations=1000, chunk_min=64 << 10, chunk_avg=256 << 10
    )
    repo.set_pack_size(1 << 20)  # several packs, so several workers have work
    src = make_tree(tmp_path / "src", size=2 << 20)
    root = Archiver(repo).archive_root([("src", src)], None)
    repo.save_snapshot({"tree": root, "sources": {}})
    return target, src


def _latest_tree(repo: Repository) -> str:
    return str(repo.snapshot_body(repo.snapshots()[-1])["tree"])


MODES = [("0", "auto"), ("2", "threads"), ("2", "processes")]


@pytest.mark.parametrize(("workers", "executor"), MODES)
def test_verify_and_restore_with_and_without_workers(
    local: tuple[LocalTarget, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
    executor: str,
) -> None:
    monkeypatch.setenv("TULOU_BACKUP_WORKERS", workers)
    monkeypatch.setenv("TULOU_BACKUP_EXECUTOR", executor)
    target, src = local
    repo = Repository.open(target, PASSPHRASE)
    result = checker.check(repo, read_data=True)
    assert result.errors == []
    assert result.packs_read == result.packs >= 3
    out = tmp_path / "out"
    restored = Restorer(repo).restore(_latest_tree(repo), out)
    assert same_tree(src, out / "src")
    assert restored.blobs_verified >= 3
    assert not list(out.rglob(".tulou-partial-*"))


@pytest.mark.parametrize(("workers", "executor"), MODES)
def test_workers_report_a_flipped_byte(
    local: tuple[LocalTarget, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
    executor: str,
) -> None:
    monkeypatch.setenv("TULOU_BACKUP_WORKERS", workers)
    monkeypatch.setenv("TULOU_BACKUP_EXECUTOR", executor)
    target, _ = local
    repo = Repository.open(target, PASSPHRASE)
    # the biggest data pack: it holds file content, not only trees
    pack = max(repo.index.packs, key=lambda p: sum(e.raw_length for e in repo.index.packs[p]))
    path = target.root / relative_path("data", pack)
    raw = bytearray(path.read_bytes())
    raw[10] ^= 1
    path.chmod(0o600)
    path.write_bytes(bytes(raw))
    result = checker.check(Repository.open(target, PASSPHRASE), read_data=True)
    assert pack in result.damaged_packs
    assert any("does not match its name" in e for e in result.errors)
    assert any("damaged" in e for e in result.errors)  # the GCM tag of the first blob
    out = tmp_path / "out"
    with pytest.raises(VerificationError, match="could not be restored"):
        Restorer(repo).restore(_latest_tree(repo), out)
    assert not list(out.rglob(".tulou-partial-*"))  # nothing half-written stays behind


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_backup_with_each_kind_of_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    monkeypatch.setenv("TULOU_BACKUP_WORKERS", "2")
    monkeypatch.setenv("TULOU_BACKUP_EXECUTOR", executor)
    assert use_threads() == (executor == "threads")
    target = LocalTarget(tmp_path / "repo")
    repo = Repository.init(target, PASSPHRASE, kdf_iterations=1000, chunk_min=16 << 10)
    repo.set_pack_size(256 << 10)
    src = make_tree(tmp_path / "src", size=1 << 20)
    root = Archiver(repo).archive_root([("src", src)], None)
    repo.save_snapshot({"tree": root, "sources": {}})
    assert repo.stats.packs >= 3  # several packs in flight at once
    again = Repository.open(target, PASSPHRASE)
    assert checker.check(again, read_data=True).errors == []
    Restorer(again).restore(root, tmp_path / "out")
    assert same_tree(src, tmp_path / "out" / "src")


def test_executor_choice_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TULOU_BACKUP_EXECUTOR", "fibres")
    with pytest.raises(InputError, match="TULOU_BACKUP_EXECUTOR"):
        use_threads()
    monkeypatch.setenv("TULOU_BACKUP_EXECUTOR", "auto")
    assert use_threads() == (sm3.native_active() and sm4.native_active())
    monkeypatch.setattr(sm3, "_native", None)  # as TULOU_CRYPTO_NATIVE=0 leaves it at import
    assert use_threads() is False


def test_inline_work_functions_check_ids(local: tuple[LocalTarget, Path], tmp_path: Path) -> None:
    target, _ = local
    repo = Repository.open(target, PASSPHRASE)
    entry = next(e for e in repo.index.entries() if e.blob_type == "data")
    sealed = target.load("data", entry.pack_id, entry.offset, entry.length)
    other = bytes(32)
    opened = open_blobs(repo.codec, [("data", entry.blob_id, sealed), ("data", other, sealed)])
    assert isinstance(opened[0], bytes)
    assert isinstance(opened[1], str)  # the id is bound into the AAD: a swapped blob fails
    pack = target.load("data", entry.pack_id)
    assert check_pack(repo.codec, entry.pack_id, pack) == []
    bad = tmp_path / "bad"
    bad.write_bytes(b"")
    blob = (other, entry.offset, entry.length, entry.raw_length, [(0, str(bad), 0)])
    verified, written, failed = write_blobs(repo.codec, target, entry.pack_id, [blob])
    assert (verified, written, [f for f, _ in failed]) == (0, [], [0])
    assert bad.read_bytes() == b""  # nothing of an unverified blob was written


def test_codec_is_never_pickled_and_hides_keys(local: tuple[LocalTarget, Path]) -> None:
    repo = Repository.open(local[0], PASSPHRASE)
    assert repo.keys.data_key.hex() not in repr(repo.codec)
    with pytest.raises(TypeError):
        copy.copy(repo.codec)  # pickling goes through the same __reduce__
    rebuilt = BlobCodec.from_secrets(*repo.codec.secrets())
    assert rebuilt.blob_id(b"x") == repo.codec.blob_id(b"x")


def test_pool_refuses_target_work_without_a_target(local: tuple[LocalTarget, Path]) -> None:
    repo = Repository.open(local[0], PASSPHRASE)
    with BlobPool(repo.codec, workers=0) as pool, pytest.raises(ValueError, match="target"):
        pool.submit(write_blobs, "x", [])
