"""The restorer: writes a snapshot's files into a directory, verifying every blob on the way.

Each file is written to a hidden ``.tulou-partial-*`` name and renamed into place only after
every one of its blobs decrypted, decompressed and matched its id and the total matched the
recorded size. A file that fails is removed and reported: nothing is ever restored silently
from damaged data. The restore raises :class:`VerificationError` at the end if any file failed.

From a local repository, files are written by worker processes (:mod:`backup.parallel`), each
file by one worker that opens and checks every blob itself; directory modes and times are set
last, deepest first, so a read-only directory never blocks its own files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backup import tree
from backup.parallel import BlobPool, Location, write_file
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
        """Directories and symlinks first, then file contents, then directory metadata."""
        files: list[tuple[Node, Path]] = []
        dirs: list[tuple[Node, Path]] = []
        self._layout(nodes, dest, files, dirs)
        pool = BlobPool(self.repo.codec, target=self.repo.target)
        if not pool.workers_read:  # remote targets: this process reads and verifies
            pool = BlobPool(self.repo.codec, workers=0, target=self.repo.target)
        with pool:
            for (node, path, partial), outcome in pool.ordered(write_file, self._tasks(files)):
                self._finish_file(node, path, partial, outcome)
        for node, path in reversed(dirs):  # deepest first; after their files were written
            os.chmod(path, node.mode)
            os.utime(path, ns=(node.mtime_ns, node.mtime_ns))

    def _layout(
        self,
        nodes: list[Node],
        dest: Path,
        files: list[tuple[Node, Path]],
        dirs: list[tuple[Node, Path]],
    ) -> None:
        for node in nodes:
            path = dest / node.name
            try:
                if node.type == "dir":
                    path.mkdir(exist_ok=True)
                    self.result.dirs += 1
                    dirs.append((node, path))
                    if node.subtree:
                        self._layout(self._tree(node.subtree), path, files, dirs)
                elif node.type == "symlink":
                    os.symlink(node.target or "", path)
                else:
                    files.append((node, path))
            except (VerificationError, NotFoundError) as exc:
                self.result.errors.append(f"{path}: {exc}")

    def _tasks(
        self, files: list[tuple[Node, Path]]
    ) -> Iterator[tuple[tuple[Node, Path, Path], tuple[str, list[Location]]]]:
        for node, path in files:
            partial = path.with_name(f".tulou-partial-{path.name}")
            try:
                blobs = [self._locate(blob) for blob in node.content]
            except (VerificationError, NotFoundError) as exc:
                self.result.errors.append(f"{path}: {exc}")
                continue
            yield (node, path, partial), (str(partial), blobs)

    def _locate(self, blob: str) -> Location:
        blob_id = bytes.fromhex(blob)
        entry = self.repo.index.get(blob_id)
        if entry is None:
            raise NotFoundError(f"data blob {blob[:16]} is not in the index")
        if entry.blob_type != "data":
            raise VerificationError(f"blob {blob[:16]} is a {entry.blob_type} blob")
        return blob_id, entry.pack_id, entry.offset, entry.length

    def _finish_file(
        self, node: Node, path: Path, partial: Path, outcome: tuple[int, int, str | None]
    ) -> None:
        """Rename a completely verified file into place; anything else is removed, reported."""
        written, blobs, error = outcome
        self.result.blobs_verified += blobs
        if error is None and written != node.size:
            error = f"size {written} differs from recorded {node.size}"
        if error is not None:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            self.result.errors.append(f"{path}: {error}")
            return
        os.chmod(partial, node.mode)
        os.utime(partial, ns=(node.mtime_ns, node.mtime_ns))
        os.replace(partial, path)
        self.result.files += 1
        self.result.bytes += written
        if self.progress is not None:
            self.progress(written)
