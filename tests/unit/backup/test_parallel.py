"""Worker-process verify and restore: same results as inline, and every kind of damage caught."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from backup import checker
from backup.archiver import Archiver
from backup.pack import BlobCodec
from backup.parallel import BlobPool, check_pack, open_blobs, write_blobs
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.base import relative_path
from backup.targets.local import LocalTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tests.unit.backup.test_repository import same_tree
from tulou.errors import VerificationError


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


@pytest.mark.parametrize("workers", ["0", "2"])
def test_verify_and_restore_with_and_without_workers(
    local: tuple[LocalTarget, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("TULOU_BACKUP_WORKERS", workers)
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


@pytest.mark.parametrize("workers", ["0", "2"])
def test_workers_report_a_flipped_byte(
    local: tuple[LocalTarget, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("TULOU_BACKUP_WORKERS", workers)
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
