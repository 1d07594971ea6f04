"""``copy`` between sites of one repository, and repair of damaged files from a healthy site.

All sites of a repository share its config and keys, and every stored file is named by the SM3
of its bytes, so a file is the same at every site: copying is moving missing files verbatim, and
a damaged file at one site is repaired by the good copy from another, checked against its name
before it is written. Copy order follows the write ordering: packs, then a new index at the
destination for the copied packs, then snapshot files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from backup import index as index_file
from backup import tree
from backup.pack import BlobEntry
from backup.repository import Repository, read_config
from backup.targets.base import Target
from crypto import sm3
from tulou.errors import NotFoundError, UsageError, VerificationError


@dataclass
class CopyResult:
    snapshots: int = 0
    packs: int = 0
    bytes: int = 0
    skipped_snapshots: int = 0


def init_site(src: Repository, dst: Target) -> None:
    """Make ``dst`` a new site of ``src``'s repository (verbatim config and key files)."""
    with contextlib.suppress(NotFoundError):
        dst.stat("config", "config")
        raise UsageError(f"{dst.location} already holds a repository")
    for info in src.target.list("keys"):
        dst.save("keys", info.name, src.target.load("keys", info.name))
    dst.save("config", "config", src.target.load("config", "config"))


def same_repository(src: Repository, dst: Target) -> None:
    config, _ = read_config(dst)
    if config.repo_id != src.config.repo_id:
        raise UsageError(f"{dst.location} holds another repository ({config.repo_id[:12]})")


def _blobs_of(repo: Repository, tree_id: str, out: set[bytes]) -> None:
    tid = bytes.fromhex(tree_id)
    if tid in out:
        return
    out.add(tid)
    for node in tree.decode(repo.load_blob("tree", tid)):
        out.update(bytes.fromhex(c) for c in node.content)
        if node.subtree:
            _blobs_of(repo, node.subtree, out)


def copy(
    src: Repository,
    dst: Target,
    snapshot_ids: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CopyResult:
    """Copy snapshots (all by default) and the packs they need from ``src`` to ``dst``."""
    same_repository(src, dst)
    result = CopyResult()
    headers = src.snapshots()
    if snapshot_ids:
        headers = [src.find_snapshot(s) for s in snapshot_ids]
    present = {i.name for i in dst.list("snapshots")}
    todo = [h for h in headers if h.snapshot_id not in present]
    result.skipped_snapshots = len(headers) - len(todo)
    needed: set[bytes] = set()
    for header in todo:
        _blobs_of(src, str(src.snapshot_body(header)["tree"]), needed)
    packs_needed = {e.pack_id for b in needed if (e := src.index.get(b)) is not None}
    dst_packs = {i.name for i in dst.list("data")}
    copied: dict[str, list[BlobEntry]] = {}
    for pack_id in sorted(packs_needed - dst_packs):
        data = src.target.load("data", pack_id)
        if src.codec.pack_name(data) != pack_id:
            raise VerificationError(f"pack {pack_id[:16]} is damaged at {src.target.location}")
        dst.save("data", pack_id, data)
        copied[pack_id] = src.index.packs[pack_id]
        result.packs += 1
        result.bytes += len(data)
        if progress is not None:
            progress(len(data))
    if copied:
        name, data = index_file.encode(src.keys, copied)
        with contextlib.suppress(FileExistsError):
            dst.save("index", name, data)
    for header in todo:
        dst.save("snapshots", header.snapshot_id, src.target.load("snapshots", header.snapshot_id))
        result.snapshots += 1
    return result


@dataclass
class RepairResult:
    repaired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def repair(
    damaged: Target,
    healthy: Target,
    kind: str,
    names: list[str],
    name_of: Callable[[bytes], str] = lambda data: sm3.sm3(data).hex(),
) -> RepairResult:
    """Replace each named file at ``damaged`` with the verified copy from ``healthy``.

    A copy is verified by its name: ``name_of(content)`` (for packs, the repository's
    :func:`backup.pack.pack_name`; SM3 of the file for every other kind).
    """
    result = RepairResult()
    for name in names:
        try:
            data = healthy.load(kind, name)
        except NotFoundError:
            result.failed.append(f"{kind}/{name[:16]}: absent at {healthy.location} too")
            continue
        if name_of(data) != name:
            result.failed.append(f"{kind}/{name[:16]}: damaged at {healthy.location} too")
            continue
        with contextlib.suppress(NotFoundError):
            damaged.remove(kind, name)
        damaged.save(kind, name, data)
        result.repaired.append(f"{kind}/{name}")
    return result
