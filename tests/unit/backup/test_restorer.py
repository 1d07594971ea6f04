"""Pack-ordered restore: each blob read and opened once, written wherever it is needed."""

from __future__ import annotations

import itertools
import os
import random  # noqa: TID251 - reproducible test data, not secrets
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup import tree
from backup.parallel import READ_GAP, READ_MAX, PackBlob, read_runs, write_blobs
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.local import LocalTarget
from backup.targets.memory import MemoryTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tests.unit.backup.test_repository import backup, same_tree
from tulou.errors import VerificationError


def _latest_tree(repo: Repository) -> str:
    return str(repo.snapshot_body(repo.snapshots()[-1])["tree"])


def _data_refs(repo: Repository) -> list[bytes]:
    """Every data blob reference of the latest snapshot, duplicates included."""
    refs: list[bytes] = []
    todo = [_latest_tree(repo)]
    while todo:
        for node in tree.decode(repo.load_blob("tree", bytes.fromhex(todo.pop()))):
            if node.subtree:
                todo.append(node.subtree)
            refs.extend(bytes.fromhex(c) for c in node.content)
    return refs


@pytest.mark.parametrize(
    ("workers", "task_bytes"), [("0", 4 << 20), ("2", 4 << 20), ("2", 64 << 10)]
)
def test_duplicate_content_is_opened_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str, task_bytes: int
) -> None:
    monkeypatch.setenv("TULOU_BACKUP_WORKERS", workers)
    monkeypatch.setattr("backup.restorer.TASK_BYTES", task_bytes)  # 64 KiB: many per pack
    target = LocalTarget(tmp_path / "repo")
    repo = Repository.init(
        target, PASSPHRASE, kdf_iterations=1000, chunk_min=64 << 10, chunk_avg=256 << 10
    )
    repo.set_pack_size(1 << 20)
    src = make_tree(tmp_path / "src", size=2 << 20)  # logs/copy.log duplicates logs/auth.log
    backup(repo, src)
    repo = Repository.open(target, PASSPHRASE)
    refs = _data_refs(repo)
    out = tmp_path / "out"
    result = Restorer(repo).restore(_latest_tree(repo), out)
    assert same_tree(src, out / "src")
    assert result.blobs_verified == len(set(refs)) < len(refs)
    assert result.files == 4 and result.errors == []  # random.bin, 2 logs, the empty file
    assert not list(out.rglob(".tulou-partial-*"))


def test_a_damaged_shared_blob_fails_every_file_that_needs_it(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    backup(repo, src)
    repo = Repository.open(target, PASSPHRASE)
    refs = _data_refs(repo)
    shared = next(r for r in refs if refs.count(r) > 1)  # a chunk of both log files
    entry = repo.index.get(shared)
    assert entry is not None
    target.corrupt("data", entry.pack_id, entry.offset + 40)
    out = tmp_path / "out"
    with pytest.raises(VerificationError, match="could not be restored") as caught:
        Restorer(Repository.open(target, PASSPHRASE)).restore(_latest_tree(repo), out)
    assert "auth.log" in str(caught.value) and "copy.log" in str(caught.value)
    assert not (out / "src" / "logs" / "auth.log").exists()
    assert not (out / "src" / "logs" / "copy.log").exists()
    assert not list(out.rglob(".tulou-partial-*"))
    if (out / "src" / "random.bin").exists():  # intact files are exact (if in other packs)
        assert (out / "src" / "random.bin").read_bytes() == (src / "random.bin").read_bytes()


def test_write_blobs_places_one_blob_at_many_offsets_and_checks_lengths(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    backup(repo, make_tree(tmp_path / "src"))
    repo = Repository.open(target, PASSPHRASE)
    entry = max(
        (e for e in repo.index.entries() if e.blob_type == "data"), key=lambda e: e.raw_length
    )
    plaintext = repo.load_blob("data", entry.blob_id)
    twice, once, wrong = (tmp_path / n for n in ("twice", "once", "wrong"))
    for path in (twice, once, wrong):
        path.write_bytes(b"")
    n = entry.raw_length
    blob = (
        entry.blob_id,
        entry.offset,
        entry.length,
        n,
        [(0, str(twice), n), (0, str(twice), 0), (1, str(once), 0)],
    )
    verified, written, failed = write_blobs(repo.codec, target, entry.pack_id, [blob])
    assert (verified, sorted(written), failed) == (1, [(0, n), (0, n), (1, n)], [])
    assert twice.read_bytes() == plaintext * 2 and once.read_bytes() == plaintext
    liar = (entry.blob_id, entry.offset, entry.length, n + 1, [(2, str(wrong), 0)])
    verified, written, failed = write_blobs(repo.codec, target, entry.pack_id, [liar])
    assert (verified, written, [f for f, _ in failed]) == (0, [], [2])
    assert wrong.read_bytes() == b""


def test_write_blobs_never_creates_a_file(
    repo: Repository, target: MemoryTarget, tmp_path: Path
) -> None:
    backup(repo, make_tree(tmp_path / "src"))
    repo = Repository.open(target, PASSPHRASE)
    entry = next(e for e in repo.index.entries() if e.blob_type == "data")
    gone = tmp_path / "removed-partial"
    blob = (entry.blob_id, entry.offset, entry.length, entry.raw_length, [(0, str(gone), 0)])
    _, written, failed = write_blobs(repo.codec, target, entry.pack_id, [blob])
    assert written == [] and [f for f, _ in failed] == [0] and not gone.exists()


_blob_layout = st.lists(
    st.tuples(st.integers(0, 3 * READ_GAP), st.integers(1, READ_MAX // 3)), max_size=40
)


@given(_blob_layout)
def test_read_runs_cover_every_blob_in_order_within_bounds(layout: list[tuple[int, int]]) -> None:
    blobs: list[PackBlob] = []
    offset = 0
    for gap, length in layout:
        offset += gap
        blobs.append((bytes(32), offset, length, length, []))
        offset += length
    runs = list(read_runs(blobs))
    assert [b for _, _, run in runs for b in run] == blobs
    for start, end, run in runs:
        assert start == run[0][1] and end == run[-1][1] + run[-1][2]
        assert end - start <= READ_MAX or len(run) == 1
        for prev, nxt in itertools.pairwise(run):
            assert nxt[1] - (prev[1] + prev[2]) <= READ_GAP
    for (_, end, _), (start, _, _) in itertools.pairwise(runs):
        assert start >= end


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_truncated_pack_fails_only_the_files_whose_blobs_it_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """Small files share a pack and one coalesced read; cutting the pack's tail loses the
    last files' blobs only: every other file of that read is restored."""
    monkeypatch.setenv("TULOU_BACKUP_WORKERS", workers)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"f{i:02d}.bin").write_bytes(random.Random(i).randbytes(20_000))
    target = LocalTarget(tmp_path / "repo")
    repo = Repository.init(target, PASSPHRASE, kdf_iterations=1000)
    backup(repo, src)
    repo = Repository.open(target, PASSPHRASE)
    data_packs = {e.pack_id for e in repo.index.entries() if e.blob_type == "data"}
    (pack_id,) = data_packs  # all twelve files in one pack, read with one coalesced read
    entries = sorted(repo.index.packs[pack_id], key=lambda e: e.offset)
    cut = entries[-2].offset + 10  # inside the eleventh blob: the last two are lost
    pack_file = tmp_path / "repo" / "data" / pack_id[:2] / pack_id
    pack_file.chmod(0o600)
    os.truncate(pack_file, cut)
    lost = {e.blob_id for e in entries[-2:]}
    expected_lost = set()
    for node in tree.decode(repo.load_blob("tree", bytes.fromhex(_src_subtree(repo)))):
        if bytes.fromhex(node.content[0]) in lost:
            expected_lost.add(node.name)
    assert len(expected_lost) == 2
    out = tmp_path / "out"
    with pytest.raises(VerificationError, match="2 file") as caught:
        Restorer(repo).restore(_latest_tree(repo), out)
    restored = {p.name for p in (out / "src").iterdir()}
    assert restored == {f"f{i:02d}.bin" for i in range(12)} - expected_lost
    for name in restored:
        assert (out / "src" / name).read_bytes() == (src / name).read_bytes()
    assert all(name in str(caught.value) for name in expected_lost)


def _src_subtree(repo: Repository) -> str:
    (node,) = tree.decode(repo.load_blob("tree", bytes.fromhex(_latest_tree(repo))))
    assert node.subtree is not None
    return node.subtree
