"""The blob codec: batch paths equal the one-at-a-time ones; pack names; format versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from backup import checker
from backup.archiver import Archiver
from backup.keys import MasterKeys, RepoConfig
from backup.pack import PACK_PIECE, BlobCodec, pack_name
from backup.repository import Repository
from backup.restorer import Restorer
from backup.targets.memory import MemoryTarget
from tests.unit.backup.conftest import PASSPHRASE, make_tree
from tests.unit.backup.test_repository import same_tree
from tulou.errors import InputError, VerificationError


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


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())  # OpenSSL directly, not the code under test
    h.update(data)
    return h.finalize()


@pytest.mark.parametrize(
    "size", [0, 1, PACK_PIECE - 1, PACK_PIECE, PACK_PIECE + 1, 5 * PACK_PIECE + 7]
)
def test_pack_names_follow_the_documented_construction(size: int) -> None:
    data = bytes((i * 7 + size) & 0xFF for i in range(size))
    pieces = [data[i : i + PACK_PIECE] for i in range(0, size, PACK_PIECE)]
    root = (
        b"tulou-backup/pack-name/v2"
        + size.to_bytes(8, "big")
        + PACK_PIECE.to_bytes(4, "big")
        + b"".join(_sm3(p) for p in pieces)
    )
    assert pack_name(data, 2) == _sm3(root).hex()
    assert pack_name(data, 1) == _sm3(data).hex()


def test_pack_name_changes_with_any_flipped_byte() -> None:
    data = bytearray(3 * PACK_PIECE + 100)
    name = pack_name(bytes(data), 2)
    for offset in (0, PACK_PIECE - 1, PACK_PIECE, 3 * PACK_PIECE + 99):
        data[offset] ^= 0x80
        assert pack_name(bytes(data), 2) != name
        data[offset] ^= 0x80
    assert pack_name(bytes(data[:-1]), 2) != name  # a truncated pack
    assert pack_name(bytes(data) + b"\0", 2) != name  # an extended one


def test_version_1_repository_still_backs_up_verifies_and_restores(
    target: MemoryTarget, tmp_path: Path
) -> None:
    keys = MasterKeys.generate()
    config = RepoConfig(
        repo_id="ab" * 32,
        chunk_min=16 << 10,
        chunk_avg=64 << 10,
        chunk_max=256 << 10,
        zstd_level=1,
        public_key=keys.public_key,
        version=1,
    )
    repo = Repository.init(target, PASSPHRASE, keys=keys, config=config, kdf_iterations=1000)
    src = make_tree(tmp_path / "src", size=600_000)
    root = Archiver(repo).archive_root([("src", src)], None)
    repo.save_snapshot({"tree": root, "sources": {}})
    again = Repository.open(target, PASSPHRASE)
    assert again.config.version == 1
    names = [i.name for i in target.list("data")]
    assert names and all(_sm3(target.load("data", n)).hex() == n for n in names)
    assert checker.check(again, read_data=True).errors == []
    Restorer(again).restore(root, tmp_path / "out")
    assert same_tree(src, tmp_path / "out" / "src")


def test_unknown_repository_version_is_refused(repo: Repository, target: MemoryTarget) -> None:
    raw = json.loads(target.load("config", "config"))
    raw["version"] = 4
    target.remove("config", "config")
    target.save("config", "config", json.dumps(raw).encode())
    with pytest.raises(InputError, match="version 4 is not supported"):
        Repository.open(target, PASSPHRASE)
