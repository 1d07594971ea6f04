"""The archiver: blob ids computed ahead in threads are the ids of the chunks, in order."""

from __future__ import annotations

import random  # noqa: TID251 - reproducible test data, not secrets
from pathlib import Path

import pytest

from backup import archiver, tree
from backup.archiver import Archiver
from backup.repository import Repository


@pytest.mark.parametrize("window", [1, 200_000, 32 << 20])
def test_content_ids_match_the_chunks_in_order(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    monkeypatch.setattr(archiver, "ID_WINDOW", window)  # 1: one chunk ahead at a time
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(5)
    (src / "a.bin").write_bytes(rng.randbytes(3 << 20))
    (src / "b.bin").write_bytes(rng.randbytes(1 << 20) * 2)  # repeated content
    root = Archiver(repo).archive_root([("src", src)], None)
    repo.flush()
    (node,) = tree.decode(repo.load_blob("tree", bytes.fromhex(root)))
    assert node.subtree is not None
    files = {n.name: n for n in tree.decode(repo.load_blob("tree", bytes.fromhex(node.subtree)))}
    for name in ("a.bin", "b.bin"):
        chunks = list(repo.chunker().file(src / name))
        assert len(chunks) > 1
        assert files[name].content == [repo.codec.blob_id(c).hex() for c in chunks]
        assert (
            b"".join(repo.load_blob("data", bytes.fromhex(c)) for c in files[name].content)
            == (src / name).read_bytes()
        )


def test_archive_root_stops_the_id_threads(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x" * 1000)
    arch = Archiver(repo)
    arch.archive_root([("src", src)], None)
    assert arch._hasher is None  # archive_root stopped the id threads
