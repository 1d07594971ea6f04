"""The restorer: writes a snapshot's files into a directory, verifying every blob on the way.

Each file is written to a hidden ``.tulou-partial-*`` name and renamed into place only after
every one of its blobs decrypted, decompressed and matched its id and the total matched the
recorded size. A file that fails is removed and reported: nothing is ever restored silently
from damaged data. The restore raises :class:`VerificationError` at the end if any file failed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backup import tree
from backup.repository import Repository
from backup.tree import Node
from tulou.errors import NotFoundError, UsageError, VerificationError


@dataclass
class RestoreResult:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    blobs_verified: int = 0
    errors: list[str] = field(default_factory=list)


class Restorer:
    def __init__(self, repo: Repository, progress: Callable[[int], None] | None = None) -> None:
        self.repo = repo
        self.progress = progress
        self.result = RestoreResult()

    def restore(self, tree_id: str, dest: Path, include: str | None = None) -> RestoreResult:
        """Restore the tree (or only the sub-path ``include``, e.g. ``soc-db``) into ``dest``."""
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()) and include is None:
            raise UsageError(f"restore destination {dest} is not empty")
        nodes = self._tree(tree_id)
        if include:
            parts = [p for p in include.strip("/").split("/") if p]
            for i, part in enumerate(parts):
                match = {n.name: n for n in nodes}.get(part)
                if match is None:
                    raise NotFoundError(f"{include!r} is not in the snapshot")
                if i == len(parts) - 1:
                    nodes = [match]
                elif match.type == "dir" and match.subtree:
                    nodes = self._tree(match.subtree)
                else:
                    raise NotFoundError(f"{include!r} is not in the snapshot")
        self._restore_nodes(nodes, dest)
        if self.result.errors:
            raise VerificationError(
                f"{len(self.result.errors)} file(s) could not be restored from verified data: "
                + "; ".join(self.result.errors[:5])
            )
        return self.result

    def _tree(self, tree_id: str) -> list[Node]:
        return tree.decode(self.repo.load_blob("tree", bytes.fromhex(tree_id)))

    def _restore_nodes(self, nodes: list[Node], dest: Path) -> None:
        for node in nodes:
            path = dest / node.name
            try:
                if node.type == "dir":
                    path.mkdir(exist_ok=True)
                    self.result.dirs += 1
                    if node.subtree:
                        self._restore_nodes(self._tree(node.subtree), path)
                    os.chmod(path, node.mode)
                    os.utime(path, ns=(node.mtime_ns, node.mtime_ns))
                elif node.type == "symlink":
                    os.symlink(node.target or "", path)
                else:
                    self._restore_file(node, path)
            except (VerificationError, NotFoundError) as exc:
                self.result.errors.append(f"{path}: {exc}")

    def _restore_file(self, node: Node, path: Path) -> None:
        partial = path.with_name(f".tulou-partial-{path.name}")
        written = 0
        try:
            with partial.open("wb") as handle:
                for blob in node.content:
                    data = self.repo.load_blob("data", bytes.fromhex(blob))
                    handle.write(data)
                    written += len(data)
                    self.result.blobs_verified += 1
                    if self.progress is not None:
                        self.progress(len(data))
            if written != node.size:
                raise VerificationError(f"size {written} differs from recorded {node.size}")
            os.chmod(partial, node.mode)
            os.utime(partial, ns=(node.mtime_ns, node.mtime_ns))
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        self.result.files += 1
        self.result.bytes += written
