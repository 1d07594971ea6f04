"""The index: which pack holds each blob, kept in memory and stored as sealed index files.

Index file (``index/<SM3 of the file>``)::

    SM4-seal(data_key, zstd(JSON), aad = "tulou-backup/index/v1")
    JSON = {"version": 1, "supersedes": [index ids], "packs": [{"id": pack id, "blobs": [
            {"id": hex, "type": "data"|"tree", "offset": int, "length": int,
             "raw_length": int}, ...]}, ...]}

An index file lists only packs that were completely stored before it was written. Index files
named in another's ``supersedes`` are ignored once that one is read (prune writes the new
index before deleting the old ones, so a crash in between leaves both, never neither).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import zstandard

from backup.keys import FORMAT_VERSION, MasterKeys, canonical
from backup.pack import BLOB_TYPES, BlobEntry
from crypto import sm3, sm4
from tulou.errors import InputError, VerificationError

_INDEX_AAD = b"tulou-backup/index/v1"


class Index:
    """Blob id -> location, for every pack named by the loaded index files."""

    def __init__(self) -> None:
        self._blobs: dict[bytes, BlobEntry] = {}
        self.packs: dict[str, list[BlobEntry]] = {}
        self.files: set[str] = set()

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def get(self, blob_id: bytes) -> BlobEntry | None:
        return self._blobs.get(blob_id)

    def add(self, entries: Iterable[BlobEntry]) -> None:
        for entry in entries:
            self.packs.setdefault(entry.pack_id, [])
            if entry.blob_id not in self._blobs:
                self._blobs[entry.blob_id] = entry
            self.packs[entry.pack_id].append(entry)

    def entries(self) -> Iterator[BlobEntry]:
        for entries in self.packs.values():
            yield from entries


def encode(
    keys: MasterKeys, packs: dict[str, list[BlobEntry]], supersedes: Iterable[str] = ()
) -> tuple[str, bytes]:
    """Serialise and seal an index file; return (file id, bytes)."""
    document = {
        "version": FORMAT_VERSION,
        "supersedes": sorted(supersedes),
        "packs": [
            {
                "id": pack_id,
                "blobs": [
                    {
                        "id": e.blob_id.hex(),
                        "type": e.blob_type,
                        "offset": e.offset,
                        "length": e.length,
                        "raw_length": e.raw_length,
                    }
                    for e in entries
                ],
            }
            for pack_id, entries in sorted(packs.items())
        ],
    }
    raw = zstandard.ZstdCompressor(level=3).compress(canonical(document))
    data = sm4.seal(keys.data_key, raw, aad=_INDEX_AAD)
    return sm3.sm3(data).hex(), data


def decode(keys: MasterKeys, file_id: str, data: bytes) -> tuple[list[str], list[BlobEntry]]:
    """Verify and parse an index file; return (superseded ids, entries)."""
    if sm3.sm3(data).hex() != file_id:
        raise VerificationError(f"index {file_id[:16]}: content does not match its name")
    try:
        raw = sm4.open(keys.data_key, data, aad=_INDEX_AAD)
        document = json.loads(zstandard.ZstdDecompressor().decompress(raw))
    except (VerificationError, InputError, zstandard.ZstdError, ValueError) as exc:
        raise VerificationError(f"index {file_id[:16]} is damaged") from exc
    try:
        entries = [
            BlobEntry(
                bytes.fromhex(b["id"]),
                b["type"],
                p["id"],
                int(b["offset"]),
                int(b["length"]),
                int(b["raw_length"]),
            )
            for p in document["packs"]
            for b in p["blobs"]
        ]
        if any(e.blob_type not in BLOB_TYPES for e in entries):
            raise ValueError("unknown blob type")
        return [str(s) for s in document["supersedes"]], entries
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"index {file_id[:16]} is malformed") from exc
