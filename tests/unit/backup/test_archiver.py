"""Batched chunk storage makes exactly the repository that one chunk at a time makes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backup import archiver
from backup.archiver import Archiver
from backup.repository import Repository
from backup.targets.local import LocalTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree


def _packs(repo: Repository) -> set[tuple[bytes, ...]]:
    """Each pack as the tuple of its blob ids in offset order (pack names are salted)."""
    return {
        tuple(e.blob_id for e in sorted(entries, key=lambda e: e.offset))
        for entries in repo.index.packs.values()
    }


def _backup(root: Path, src: Path) -> tuple[str, set[tuple[bytes, ...]]]:
    repo = Repository.open(LocalTarget(root), PASSPHRASE)
    repo.set_pack_size(512 << 10)
    tree_id = Archiver(repo).archive_root([("src", src)], None)
    repo.flush()
    repo.load_index()
    return tree_id, _packs(repo)


def test_batches_store_the_same_blobs_packs_and_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_tree(tmp_path / "src", size=3 << 20)
    make_tree(src / "nested", seed=2, size=1 << 20)
    first = tmp_path / "one-at-a-time"
    Repository.init(
        LocalTarget(first), PASSPHRASE, kdf_iterations=1000, chunk_min=16 << 10, chunk_avg=64 << 10
    )
    second = tmp_path / "batched"
    shutil.copytree(first, second)  # the same keys, so the same blob ids

    monkeypatch.setattr(archiver, "BATCH_CHUNKS", 1)
    single = _backup(first, src)
    monkeypatch.setattr(archiver, "BATCH_CHUNKS", 7)  # batches that cross file boundaries
    batched = _backup(second, src)

    assert batched[0] == single[0]
    assert batched[1] == single[1]
    assert len(single[1]) >= 4
