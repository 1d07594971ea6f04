"""``forget`` (apply a retention policy to snapshots) and ``prune`` (reclaim unused data).

Prune's ordering keeps every referenced blob reachable at every instant: (1) find every blob
reachable from every snapshot, refusing to continue if any snapshot or tree cannot be read;
(2) copy the still-used blobs of partly used packs into new packs; (3) write one new index of
everything kept, superseding all old index files; (4) only then delete old index files and
unused packs. A crash after (3) leaves extra files, never missing ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from backup import index as index_file
from backup import tree
from backup.pack import BlobEntry, PackWriter
from backup.repository import Repository
from backup.snapshot import SnapshotHeader
from tulou.errors import NotFoundError, VerificationError

BUCKETS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: (t.year,),
}


def select_forget(
    headers: list[SnapshotHeader], keep_last: int = 0, keep: dict[str, int] | None = None
) -> tuple[list[SnapshotHeader], list[SnapshotHeader]]:
    """Split snapshots into (kept, forgotten). With no rule at all, everything is kept."""
    keep = {k: v for k, v in (keep or {}).items() if v}
    unknown = set(keep) - set(BUCKETS)
    if unknown:
        raise ValueError(f"unknown retention bucket(s): {sorted(unknown)}")
    if not keep_last and not keep:
        return list(headers), []
    newest_first = sorted(headers, key=lambda h: h.when, reverse=True)
    kept_ids = {h.snapshot_id for h in newest_first[:keep_last]}
    for bucket, count in keep.items():
        seen: set[tuple[int, ...]] = set()
        for header in newest_first:
            key = BUCKETS[bucket](header.when)
            if key not in seen and len(seen) < count:
                seen.add(key)
                kept_ids.add(header.snapshot_id)
    kept = [h for h in headers if h.snapshot_id in kept_ids]
    return kept, [h for h in headers if h.snapshot_id not in kept_ids]


def used_blobs(repo: Repository) -> set[bytes]:
    """Every blob (tree and data) reachable from any snapshot; raises if anything is unreadable."""
    used: set[bytes] = set()
    pending = [bytes.fromhex(str(repo.snapshot_body(h)["tree"])) for h in repo.snapshots()]
    while pending:
        tree_id = pending.pop()
        if tree_id in used:
            continue
        used.add(tree_id)
        for node in tree.decode(repo.load_blob("tree", tree_id)):
            if node.subtree:
                pending.append(bytes.fromhex(node.subtree))
            used.update(bytes.fromhex(c) for c in node.content)
    missing = [b for b in used if b not in repo.index]
    if missing:
        raise VerificationError(
            f"{len(missing)} referenced blob(s) are not in the index: refusing to prune; "
            "run `tulou backup verify` and repair from another site first"
        )
    return used


@dataclass
class PruneResult:
    packs_deleted: int = 0
    packs_rewritten: int = 0
    packs_written: int = 0
    index_files_replaced: int = 0
    bytes_freed: int = 0
    unindexed_packs: list[str] = field(default_factory=list)
    dry_run: bool = False


def prune(repo: Repository, *, dry_run: bool = False, max_unused: float = 0.0) -> PruneResult:
    """Remove unreferenced data. The caller holds an exclusive lock."""
    result = PruneResult(dry_run=dry_run)
    used = used_blobs(repo)
    sizes = {info.name: info.size for info in repo.target.list("data")}
    keep: dict[str, list[BlobEntry]] = {}
    rewrite: list[BlobEntry] = []
    delete: list[str] = [p for p in sizes if p not in repo.index.packs]
    result.unindexed_packs = sorted(delete)
    placed: set[bytes] = set()
    for pack_id, entries in repo.index.packs.items():
        live = [e for e in entries if e.blob_id in used and e.blob_id not in placed]
        if not live:
            delete.append(pack_id)
            continue
        unused = sum(e.length for e in entries if e not in live)
        total = sum(e.length for e in entries) or 1
        if unused / total > max_unused:
            rewrite.extend(live)
            delete.append(pack_id)
            result.packs_rewritten += 1
        else:
            keep[pack_id] = entries
        placed.update(e.blob_id for e in live)
    result.packs_deleted = len(delete)
    result.bytes_freed = sum(sizes.get(p, 0) for p in delete)
    if dry_run:
        return result
    writers = {"data": PackWriter(repo.codec), "tree": PackWriter(repo.codec)}
    for entry in rewrite:
        plaintext = repo.load_blob(entry.blob_type, entry.blob_id)
        writer = writers[entry.blob_type]
        writer.add(entry.blob_type, entry.blob_id, plaintext)
        if writer.full:
            _store(repo, writer, keep, result)
    for writer in writers.values():
        if len(writer):
            _store(repo, writer, keep, result)
    old_files = sorted(repo.index.files | {i.name for i in repo.target.list("index")})
    name, data = index_file.encode(repo.keys, keep, supersedes=old_files)
    repo.target.save("index", name, data)
    for old in old_files:
        repo.target.remove("index", old)
    result.index_files_replaced = len(old_files)
    for pack_id in delete:
        with contextlib.suppress(NotFoundError):
            repo.target.remove("data", pack_id)
    repo.load_index()
    return result


def _store(
    repo: Repository, writer: PackWriter, keep: dict[str, list[BlobEntry]], result: PruneResult
) -> None:
    pack_id, data, entries = writer.finish()
    repo.target.save("data", pack_id, data)
    keep[pack_id] = entries
    result.packs_written += 1
