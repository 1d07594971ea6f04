"""``repair --index``: the index comes back from the packs' sealed headers alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup import checker, index_repair
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.appendonly import AppendOnlyTarget
from backup.targets.memory import MemoryTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tests.unit.backup.test_repository import backup, same_tree
from tulou.errors import VerificationError


def _entries(repo: Repository) -> set[tuple[object, ...]]:
    return {
        (e.blob_id, e.blob_type, e.pack_id, e.offset, e.length, e.raw_length)
        for e in repo.index.entries()
    }


@pytest.fixture
def damaged(repo: Repository, target: MemoryTarget, tmp_path: Path) -> set[tuple[object, ...]]:
    """A single-site repository whose only index has one flipped byte; its entries before."""
    repo.set_pack_size(256 << 10)  # several packs
    backup(repo, make_tree(tmp_path / "src", size=1 << 20))
    before = _entries(Repository.open(target, PASSPHRASE))
    (index,) = list(target.list("index"))
    target.corrupt("index", index.name, index.size // 2)
    return before


def test_a_damaged_index_names_the_repair(damaged: object, target: MemoryTarget) -> None:
    with pytest.raises(VerificationError, match="repair --index"):
        Repository.open(target, PASSPHRASE)


def test_the_rebuilt_index_is_the_lost_one_and_everything_restores(
    damaged: set[tuple[object, ...]], target: MemoryTarget, tmp_path: Path
) -> None:
    repo = Repository.open(target, PASSPHRASE, index=False)
    result = index_repair.rebuild(repo)
    assert result.unreadable_packs == [] and result.index_files_removed == 1
    assert _entries(repo) == damaged
    again = Repository.open(target, PASSPHRASE)
    assert _entries(again) == damaged
    assert checker.check(again, read_data=True).errors == []
    body = again.snapshot_body(again.snapshots()[-1])
    Restorer(again).restore(str(body["tree"]), tmp_path / "out")
    assert same_tree(tmp_path / "src", tmp_path / "out" / "src")


def test_an_append_only_site_keeps_the_damaged_index_superseded(
    damaged: set[tuple[object, ...]], target: MemoryTarget
) -> None:
    guarded = AppendOnlyTarget(target)
    result = index_repair.rebuild(Repository.open(guarded, PASSPHRASE, index=False))
    assert result.index_files_removed == 0 and len(result.index_files_superseded) == 1
    assert len(list(target.list("index"))) == 2  # the damaged one is still there, ignored
    assert _entries(Repository.open(guarded, PASSPHRASE)) == damaged


def test_a_pack_with_a_damaged_header_is_named_and_left_out(
    damaged: set[tuple[object, ...]], target: MemoryTarget
) -> None:
    pack = max(target.list("data"), key=lambda i: i.size)
    target.corrupt("data", pack.name, pack.size - 10)  # inside the sealed header
    repo = Repository.open(target, PASSPHRASE, index=False)
    result = index_repair.rebuild(repo)
    (bad,) = result.unreadable_packs
    assert bad.startswith(pack.name) and "header is damaged" in bad
    assert _entries(repo) == {e for e in damaged if e[2] != pack.name}
    assert checker.check(repo).errors  # snapshots now miss that pack's blobs: said, not hidden
