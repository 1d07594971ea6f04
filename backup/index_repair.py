"""``repair --index``: rebuild the index from the packs' own sealed headers.

Every pack ends with a header sealed under the data key (docs/backup.md "pack") that lists its
blobs, so the index is redundant: when index files are damaged or lost, reading the last bytes
of every pack (two ranged loads per pack, never the whole pack) gives it back, as restic's
``repair index`` does. A pack whose header cannot be read or does not cover exactly its bytes
is left out and named. The new index supersedes every index file present (readable or not),
so readers ignore the old ones even where they cannot be deleted (append-only sites); where
deletion is allowed they are then removed. Ordering keeps Invariant 2: the packs are already
stored; the new index is stored before any old one is removed.

The caller holds an exclusive lock. Header-only reads do not check blob contents: run
``verify --read-data`` afterwards for that (the command does a structure check itself).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from backup import index as index_file
from backup.pack import BlobEntry
from backup.repository import Repository
from tulou.errors import NotFoundError, PolicyDeniedError, TulouError


@dataclass
class RebuildResult:
    packs: int = 0
    blobs: int = 0
    unreadable_packs: list[str] = field(default_factory=list)  # "pack: reason"
    index_files_superseded: list[str] = field(default_factory=list)
    index_files_removed: int = 0
    new_index: str = ""


def pack_entries(repo: Repository, pack_id: str, size: int) -> list[BlobEntry]:
    """The entries of one pack, from its sealed header alone."""
    if size < 4:
        raise TulouError(f"pack {pack_id[:16]} is truncated ({size} bytes)")
    (hlen,) = struct.unpack("<I", repo.target.load("data", pack_id, size - 4, 4))
    if hlen + 4 > size:
        raise TulouError(f"pack {pack_id[:16]} has an impossible header length")
    sealed = repo.target.load("data", pack_id, size - 4 - hlen, hlen)
    return repo.codec.parse_header(pack_id, sealed, size)


def rebuild(
    repo: Repository, *, remove_old: bool = True, progress: Callable[[int], None] | None = None
) -> RebuildResult:
    """Write one index of every readable pack, superseding all index files; reload it."""
    result = RebuildResult()
    packs: dict[str, list[BlobEntry]] = {}
    for info in sorted(repo.target.list("data"), key=lambda i: i.name):
        try:
            entries = pack_entries(repo, info.name, info.size)
        except TulouError as exc:
            result.unreadable_packs.append(f"{info.name}: {exc}")
            continue
        packs[info.name] = entries
        result.packs += 1
        result.blobs += len(entries)
        if progress is not None:
            progress(info.size)
    old = sorted(i.name for i in repo.target.list("index"))
    name, data = index_file.encode(repo.keys, packs, supersedes=old)
    if name not in old:
        repo.target.save("index", name, data)
    result.new_index = name
    result.index_files_superseded = [o for o in old if o != name]
    if remove_old:
        for stale in result.index_files_superseded:
            with contextlib.suppress(NotFoundError, PolicyDeniedError):
                repo.target.remove("index", stale)
                result.index_files_removed += 1
    repo.load_index()
    return result
