"""The blob codec's batch paths equal the one-at-a-time ones, failures included."""

from __future__ import annotations

import pytest

from backup.pack import BlobCodec
from backup.repository import Repository
from tulou.errors import VerificationError


def _outcome(codec: BlobCodec, blob_type: str, blob_id: bytes, sealed: bytes) -> bytes | str:
    try:
        return codec.open(blob_type, blob_id, sealed)
    except VerificationError as exc:
        return str(exc)


def test_blob_ids_equal_blob_id_of_each(repo: Repository) -> None:
    codec = repo.codec
    items = [b"", b"a", b"x" * 63, b"y" * 64, bytes(range(256)) * 300, b"a"]
    assert codec.blob_ids(items) == [codec.blob_id(p) for p in items]
    assert codec.blob_ids([]) == []


def test_open_many_equals_open_with_damage(repo: Repository) -> None:
    codec = repo.codec
    plains = [b"log line %d\n" % i * (i + 1) * 50 for i in range(12)] + [bytes(1000)]
    items = []
    for p in plains:
        blob_id = codec.blob_id(p)
        items.append(("data", blob_id, codec.seal("data", blob_id, p)))
    good_id, good_sealed = items[0][1], items[0][2]
    flipped = bytearray(items[1][2])
    flipped[len(flipped) // 2] ^= 1
    # A blob sealed under one id but listed under another: the id check (batched) must fail.
    other = codec.blob_id(b"something else")
    relabelled = ("data", other, codec.seal("data", other, plains[2]))
    items += [
        ("data", items[1][1], bytes(flipped)),
        relabelled,
        ("tree", good_id, good_sealed),  # sealed as data: the type is authenticated
        ("data", good_id, good_sealed[:-1]),
    ]
    got = codec.open_many(items)
    want = [_outcome(codec, *item) for item in items]
    assert got == want
    assert got[: len(plains)] == plains
    assert all(isinstance(r, str) for r in got[len(plains) :])
    assert "does not match its id" in str(got[len(plains) + 1])


@pytest.mark.parametrize("n", [0, 1, 17])
def test_add_blobs_equals_add_blob(repo: Repository, n: int) -> None:
    plains = [b"chunk %d " % (i % 5) * 2000 for i in range(n)]  # duplicates inside the batch
    ids = repo.add_blobs("data", plains)
    assert ids == [repo.codec.blob_id(p) for p in plains]
    assert repo.stats.new_blobs == len(set(plains))
    repo.flush()
    for blob_id, p in zip(ids, plains, strict=True):
        assert repo.load_blob("data", blob_id) == p
