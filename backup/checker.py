"""``verify``: check a repository's structure and, with ``read_data``, every byte of it.

Structure: the config parses (and authenticates when a key is given), every index decodes,
every snapshot's SM2 signature verifies, every tree reachable from a snapshot decodes, every
blob it names is in the index, in a pack that exists with enough bytes, and the plaintext
lengths of each file's blobs add up to the size its tree records (what a restore requires).
``read_data`` also reads each pack, checks that its name is the SM3 of its content, opens its
header and every blob (SM4-GCM tag, zstd, keyed-SM3 id). Problems are collected, not raised
one by one, so one run reports all damage; the caller raises if the list is not empty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from backup import snapshot as snapshot_file
from backup import tree
from backup.parallel import BlobPool, check_pack, check_stored_pack
from backup.repository import Repository
from backup.tree import display
from tulou.errors import TulouError, VerificationError


@dataclass
class CheckResult:
    snapshots: int = 0
    trees: int = 0
    blobs: int = 0
    packs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    errors: list[str] = field(default_factory=list)
    damaged_packs: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, object]:
        return {
            "snapshots": self.snapshots,
            "trees": self.trees,
            "blobs": self.blobs,
            "packs": self.packs,
            "packs_read": self.packs_read,
            "bytes_read": self.bytes_read,
            "errors": self.errors,
            "damaged_packs": sorted(self.damaged_packs),
            "ok": not self.errors,
        }


def check(
    repo: Repository, *, read_data: bool = False, progress: Callable[[int], None] | None = None
) -> CheckResult:
    result = CheckResult()
    target = repo.target
    headers = []
    for info in target.list("snapshots"):
        try:
            headers.append(
                snapshot_file.verify(
                    repo.config.public_key,
                    repo.config.repo_id,
                    info.name,
                    target.load("snapshots", info.name),
                )
            )
        except VerificationError as exc:
            result.errors.append(str(exc))
    result.snapshots = len(headers)
    sizes = {info.name: info.size for info in target.list("data")}
    result.packs = len(sizes)
    for pack_id, entries in repo.index.packs.items():
        end = max((e.offset + e.length for e in entries), default=0)
        if pack_id not in sizes:
            result.errors.append(f"pack {pack_id[:16]} is in the index but missing")
            result.damaged_packs.add(pack_id)
        elif sizes[pack_id] < end + 4:
            result.errors.append(f"pack {pack_id[:16]} is shorter than the index says")
            result.damaged_packs.add(pack_id)
    walked = CheckResult()  # the trees' findings, kept apart so the report order is fixed

    def structure() -> None:
        seen_trees: set[str] = set()
        for header in headers:
            try:
                body = repo.snapshot_body(header)
                _walk(repo, str(body["tree"]), seen_trees, walked)
            except (TulouError, KeyError) as exc:
                walked.errors.append(f"snapshot {header.snapshot_id[:16]}: {exc}")

    read = CheckResult()
    if not read_data:
        structure()
    else:
        with BlobPool(repo.codec, target=target) as pool:
            # Largest first: the last tasks are the small ones, so no worker idles long.
            packs = sorted(sizes, key=lambda p: (-sizes[p], p))
            walker = None
            if pool.workers_read:
                # The workers check packs with codecs of their own; meanwhile this process
                # walks the trees (Python, while the workers' crypto runs outside the GIL).
                pool.start()
                walker = threading.Thread(target=structure, name="tulou-verify-trees")
                walker.start()
                tasks = ((p, (p,)) for p in packs)
                checked = pool.ordered(check_stored_pack, tasks)
            else:  # the inline path, or a remote target: this process loads each pack
                structure()
                checked = (
                    (p, (len(data), check_pack(repo.codec, p, data)) if data else (-1, errs))
                    for p, (data, errs) in ((p, _load(repo, p)) for p in packs)
                )
            try:
                for pack_id, (nbytes, errors) in checked:
                    _record(read, pack_id, nbytes, errors)
                    if progress is not None:
                        progress(sizes[pack_id])
            finally:
                if walker is not None:
                    walker.join()
    result.trees, result.blobs = walked.trees, walked.blobs
    result.errors += walked.errors + read.errors
    result.packs_read, result.bytes_read = read.packs_read, read.bytes_read
    result.damaged_packs |= read.damaged_packs
    return result


def _walk(repo: Repository, tree_id: str, seen: set[str], result: CheckResult) -> None:
    if tree_id in seen:
        return
    seen.add(tree_id)
    try:
        nodes = tree.decode(repo.load_blob("tree", bytes.fromhex(tree_id)))
    except TulouError as exc:
        result.errors.append(f"tree {tree_id[:16]}: {exc}")
        return
    result.trees += 1
    for node in nodes:
        if node.type == "dir" and node.subtree:
            _walk(repo, node.subtree, seen, result)
        size, complete = 0, True
        for blob in node.content:
            result.blobs += 1
            entry = repo.index.get(bytes.fromhex(blob))
            if entry is None:
                complete = False
                result.errors.append(
                    f"data blob {blob[:16]} (file {display(node.name)}) is not indexed"
                )
            else:
                size += entry.raw_length
        if node.type == "file" and complete and size != node.size:
            # A restore refuses such a file; verify must say so before anyone needs it.
            result.errors.append(
                f"tree {tree_id[:16]}: file {display(node.name)}: its blobs hold {size} bytes, "
                f"the tree records {node.size}"
            )


def _load(repo: Repository, pack_id: str) -> tuple[bytes, list[str]]:
    try:
        return repo.target.load("data", pack_id), []
    except TulouError as exc:
        return b"", [f"pack {pack_id[:16]}: {exc}"]


def _record(result: CheckResult, pack_id: str, nbytes: int, errors: list[str]) -> None:
    if nbytes >= 0:
        result.packs_read += 1
        result.bytes_read += nbytes
    result.errors.extend(errors)
    if errors:
        result.damaged_packs.add(pack_id)
