"""forget's retention selection and prune: prune never deletes data a snapshot references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup import checker, maintenance
from backup.archiver import Archiver
from backup.repository import Repository
from backup.restorer import Restorer
from backup.snapshot import SnapshotHeader
from backup.targets.appendonly import AppendOnlyTarget
from backup.targets.memory import MemoryTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tests.unit.backup.test_repository import same_tree
from tulou.errors import PolicyDeniedError


def _snap(repo: Repository, src: Path, when: datetime) -> str:
    root = Archiver(repo).archive_root([("src", src)], None)
    return repo.save_snapshot({"tree": root}, time=when.isoformat().replace("+00:00", "Z"))


def _header(day: int, hour: int = 12) -> SnapshotHeader:
    when = datetime(2026, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)
    return SnapshotHeader(f"{day:02d}{hour:02d}" + "0" * 60, "r", when.isoformat(), "s", {})


def test_select_forget_keeps_last_and_daily() -> None:
    headers = [_header(d, h) for d in range(10) for h in (6, 18)]
    kept, gone = maintenance.select_forget(headers, keep_last=1, keep={"daily": 3})
    assert [h.when.day for h in kept] == [8, 9, 10]  # newest of each of the last 3 days
    assert all(h.when.hour == 18 for h in kept)
    assert len(kept) + len(gone) == 20
    assert maintenance.select_forget(headers) == (headers, [])
    with pytest.raises(ValueError, match="unknown"):
        maintenance.select_forget(headers, keep={"fortnightly": 1})


def test_prune_keeps_everything_referenced(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    repo.set_pack_size(256 << 10)
    src = make_tree(tmp_path / "src", size=2 << 20)
    now = datetime.now(UTC)
    _snap(repo, src, now - timedelta(days=2))
    (src / "random.bin").write_bytes((src / "random.bin").read_bytes()[::-1])  # all new chunks
    (src / "extra.txt").write_text("kept\n" * 5000)
    _snap(repo, src, now - timedelta(days=1))
    repo = Repository.open(target, PASSPHRASE)
    _, gone = maintenance.select_forget(repo.snapshots(), keep_last=1)
    for header in gone:
        target.remove("snapshots", header.snapshot_id)
    before = sum(i.size for i in target.list("data"))
    dry = maintenance.prune(Repository.open(target, PASSPHRASE), dry_run=True)
    assert dry.packs_deleted > 0 and sum(i.size for i in target.list("data")) == before
    result = maintenance.prune(Repository.open(target, PASSPHRASE))
    assert result.bytes_freed > 1 << 20
    after = Repository.open(target, PASSPHRASE)
    assert checker.check(after, read_data=True).errors == []
    out = tmp_path / "out"
    Restorer(after).restore(after.snapshot_body(after.snapshots()[0])["tree"], out)
    assert same_tree(src, out / "src")
    assert len(list(target.list("index"))) == 1  # old index files superseded then removed


def test_prune_removes_packs_of_an_interrupted_backup(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", size=300_000)
    _snap(repo, src, datetime.now(UTC))
    repo2 = Repository.open(target, PASSPHRASE)
    repo2.add_blob("data", b"orphan" * 1000)
    writer = repo2._writers["data"]
    pack_id, data, _ = writer.finish()
    target.save("data", pack_id, data)  # a pack stored, never indexed: the crash case
    result = maintenance.prune(Repository.open(target, PASSPHRASE))
    assert pack_id in result.unindexed_packs
    assert pack_id not in {i.name for i in target.list("data")}
    assert checker.check(Repository.open(target, PASSPHRASE), read_data=True).errors == []


def test_append_only_refuses_deletion_but_not_locks(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    _snap(repo, make_tree(tmp_path / "src", size=10_000), datetime.now(UTC))
    guarded = AppendOnlyTarget(target)
    name = next(iter(target.list("snapshots"))).name
    with pytest.raises(PolicyDeniedError):
        guarded.remove("snapshots", name)
    target.save("data", "cd" * 32, b"a pack nothing indexes")
    with pytest.raises(PolicyDeniedError):
        maintenance.prune(Repository.open(guarded, PASSPHRASE))
    guarded.save("locks", "ab" * 32, b"{}")
    guarded.remove("locks", "ab" * 32)
