"""The archiver: batched chunk storage makes exactly the repository that one chunk at a time
makes; live files (growing, shrinking, changing while read) are stored as read, consistently."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from backup import archiver, checker, tree
from backup.archiver import Archiver, ReadHook
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.local import LocalTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tulou.errors import VerificationError


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


# -- live files (issue 23 finding 1) -----------------------------------------------------------


def _archive(repo: Repository, src: Path, hook: ReadHook | None = None) -> tuple[Archiver, str]:
    arch = Archiver(repo)
    arch.read_hook = hook
    root = arch.archive_root([("src", src)], None)
    repo.save_snapshot({"tree": root, "sources": {}})
    return arch, root


def _restored(repo: Repository, root: str, out: Path) -> Path:
    again = Repository.open(repo.target, PASSPHRASE)
    assert checker.check(again, read_data=True).errors == []
    Restorer(again).restore(root, out)
    return out / "src"


def _log(path: Path, size: int) -> bytes:
    line = b"2026-11-30T10:00:00Z soc-api: alert ingested id=%08d\n"
    data = b"".join(line % i for i in range(size // len(line) + 1))[:size]
    path.write_bytes(data)
    return data


def test_a_file_that_grew_between_stat_and_read_is_stored_as_read(
    repo: Repository, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    log = src / "soc.log"
    _log(log, 3 << 20)

    def grow(path: str, attempt: int, done: int) -> None:
        if done == 0 and attempt == 1:  # after the directory scan's lstat, before the read
            with open(path, "ab") as handle:
                handle.write(b"appended while the backup ran\n" * 5000)

    arch, root = _archive(repo, src, grow)
    restored = _restored(repo, root, tmp_path / "out")
    assert restored.joinpath("soc.log").read_bytes() == log.read_bytes()
    assert arch.changed == 0 and arch.warnings == []  # it grew before the read: consistent


def test_a_file_that_changes_during_one_read_is_read_again(
    repo: Repository, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    log = src / "soc.log"
    _log(log, 9 << 20)  # above chunker.SMALL_FILE: read as a stream, in several chunks
    attempts: list[int] = []

    def append_once(path: str, attempt: int, done: int) -> None:
        if done == 0:
            attempts.append(attempt)
        if attempt == 1 and done > 0 and len(attempts) == 1:
            with open(path, "ab") as handle:
                handle.write(b"x" * 100_000)
            attempts.append(-1)  # once only

    arch, root = _archive(repo, src, append_once)
    assert attempts == [1, -1, 2]
    assert arch.changed == 0 and arch.warnings == []
    restored = _restored(repo, root, tmp_path / "out")
    assert restored.joinpath("soc.log").read_bytes() == log.read_bytes()


@pytest.mark.parametrize(("change", "size"), [("append", 2 << 20), ("truncate", 9 << 20)])
def test_a_file_that_never_holds_still_is_stored_as_read_and_marked(
    repo: Repository, tmp_path: Path, change: str, size: int
) -> None:
    """Truncated while read as a stream: no SIGBUS (no mmap), the bytes read are kept."""
    src = tmp_path / "src"
    src.mkdir()
    log = src / "soc.log"
    _log(log, size)
    seen: dict[int, bytes] = {}  # attempt -> the file as that attempt began
    changed: set[int] = set()

    def keep_changing(path: str, attempt: int, done: int) -> None:
        if done == 0:
            seen[attempt] = Path(path).read_bytes()
        elif attempt not in changed:  # once per attempt, after its first chunk
            changed.add(attempt)
            if change == "append":
                with open(path, "ab") as handle:
                    handle.write(b"more\n" * 1000)
            else:  # a log rotated by copytruncate: shorter than what was stat'ed
                os.truncate(path, done + 10)

    arch, root = _archive(repo, src, keep_changing)
    assert arch.changed == 1
    (warning,) = arch.warnings
    assert "soc.log" in warning and "changed while being read" in warning
    restored = _restored(repo, root, tmp_path / "out").joinpath("soc.log").read_bytes()
    # Every attempt saw the file change after its first chunk; the last attempt's bytes are
    # kept, which are the file as that attempt began (read before the change, or up to it).
    assert changed == set(seen) == {1, 2, 3}
    assert restored == seen[3]
    node = next(
        n for n in tree.decode(repo.load_blob("tree", bytes.fromhex(_src_tree(repo, root))))
    )
    assert node.size == len(restored) and "changed while being read" in node.error


def _src_tree(repo: Repository, root: str) -> str:
    (src,) = tree.decode(repo.load_blob("tree", bytes.fromhex(root)))
    assert src.subtree is not None
    return src.subtree


def test_a_log_appended_by_a_real_writer_during_the_backup_restores(
    repo: Repository, tmp_path: Path
) -> None:
    """The evaluation's case: a writer appends to a log while the backup runs."""
    src = tmp_path / "src"
    src.mkdir()
    log = src / "soc.log"
    _log(log, 9 << 20)
    stop = threading.Event()

    def writer() -> None:
        with open(log, "ab", buffering=0) as handle:
            n = 0
            while not stop.wait(0.0002):  # ~5,000 lines a second, as a busy service logs
                handle.write(b"live line %09d\n" % n)
                n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        arch, root = _archive(repo, src)
    finally:
        stop.set()
        thread.join()
    restored = _restored(repo, root, tmp_path / "out").joinpath("soc.log").read_bytes()
    assert log.read_bytes().startswith(restored) and len(restored) >= 9 << 20
    assert arch.changed in (0, 1) and len(arch.warnings) == arch.changed


def test_verify_reports_a_tree_whose_size_disagrees_with_its_blobs(
    repo: Repository, tmp_path: Path
) -> None:
    """What the old archiver wrote for a growing file: the lstat size, more bytes of blobs."""
    blob = repo.add_blob("data", b"y" * 5000)
    node = tree.Node(name="grown.log", type="file", size=4000, content=[blob.hex()], uid=0, gid=0)
    root = repo.add_blob("tree", tree.encode([node])).hex()
    repo.save_snapshot({"tree": root, "sources": {}})
    errors = checker.check(Repository.open(repo.target, PASSPHRASE)).errors
    assert len(errors) == 1 and "grown.log" in errors[0] and "5000" in errors[0]
    with pytest.raises(VerificationError, match="add up to 5000, the tree records 4000"):
        Restorer(Repository.open(repo.target, PASSPHRASE)).restore(root, tmp_path / "out")
