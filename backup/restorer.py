"""The restorer: writes a snapshot's files into a directory, verifying every blob on the way.

Each file is written to a hidden ``.tulou-partial-*`` name and renamed into place only after
every one of its blobs decrypted, decompressed and matched its id and the total matched the
recorded size. A file that fails is removed and reported: nothing is ever restored silently
from damaged data. The restore raises :class:`VerificationError` at the end if any file failed.

The work goes pack by pack (as restic's restorer does): each needed blob is read once, in
coalesced sequential reads of its pack, opened and checked once, and its plaintext written with
``pwrite`` at every offset of every file that contains it (duplicate files and repeated chunks
cost one decryption). From a local repository, worker processes (:mod:`backup.parallel`) do
this for whole packs, reading the pack files themselves. A file is completed (mode, times,
rename) once every one of its blobs was written; the lengths come from the sealed index and
must add up to the size recorded in the tree before anything is written. Directory modes and
times are set last, deepest first, so a read-only directory never blocks its own files.

Metadata (:mod:`backup.metadata`): owner (as root), xattrs and POSIX ACLs, mode and times of
every entry, symlinks included; FIFOs and device nodes are recreated; hard links (file nodes
sharing device and inode, with a link count above one) are restored as links to the first
one restored; a partial file is created at its final size and zeros are not written, so the
holes of a sparse file (and any run of zeros) stay holes. Sockets cannot be restored (a socket
exists only while a process listens on it): they are reported as skipped, like anything else
that is not restored.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backup import metadata, tree
from backup.pack import BlobEntry
from backup.parallel import BlobPool, PackBlob, Placement, write_blobs
from backup.repository import Repository
from backup.tree import Node, display
from tulou.errors import NotFoundError, UsageError, VerificationError

#: Sealed bytes per worker task (a 16 MiB pack is restored as ~4 tasks).
TASK_BYTES = 4 << 20


@dataclass
class RestoreResult:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    blobs_verified: int = 0
    links: int = 0  # hard links made
    specials: int = 0  # FIFOs and device nodes made
    errors: list[str] = field(default_factory=list)
    #: Entries not restored by design (sockets) and metadata that could not be applied.
    skipped: list[str] = field(default_factory=list)


class Restorer:
    def __init__(self, repo: Repository, progress: Callable[[int], None] | None = None) -> None:
        self.repo = repo
        self.progress = progress
        self.result = RestoreResult()
        self.owner = os.geteuid() == 0  # only root may give files to other users
        self._untold = self._files_untold = 0  # progress not yet reported (bytes, files)

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
        files: list[tuple[Node, str]] = []
        dirs: list[tuple[Node, str]] = []
        links: list[tuple[str, int]] = []
        self._layout(nodes, str(dest), _Layout(files, dirs, links, {}))
        plan = _Plan(files)
        for file_no, (node, _) in enumerate(files):
            try:
                self._place(plan, file_no, node)
            except (VerificationError, NotFoundError) as exc:
                plan.fail(file_no, str(exc))
        for file_no in range(len(files)):
            if file_no not in plan.failed:
                self._create_partial(plan, file_no)
        pool = BlobPool(self.repo.codec, target=self.repo.target)
        if not pool.workers_read:  # remote targets: this process reads and verifies
            pool = BlobPool(self.repo.codec, workers=0, target=self.repo.target)
        with pool:
            tasks = ((pack_id, (pack_id, blobs)) for pack_id, blobs in plan.pack_tasks())
            for _, (verified, written, failed) in pool.ordered(write_blobs, tasks):
                self.result.blobs_verified += verified
                for file_no, reason in failed:
                    plan.fail(file_no, reason)
                for file_no, nbytes in written:
                    plan.written[file_no] += nbytes
                    plan.remaining[file_no] -= 1
                    if plan.remaining[file_no] == 0 and file_no not in plan.failed:
                        self._finish_file(plan, file_no)
        if self.progress is not None and self._untold:
            self.progress(self._untold)
        for file_no, reason in sorted(plan.failed.items()):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(plan.partials[file_no])
            self.result.errors.append(f"{display(files[file_no][1])}: {reason}")
        for path, file_no in links:
            if file_no in plan.failed:
                self.result.errors.append(
                    f"{display(path)}: hard link to {display(files[file_no][1])}, "
                    "which could not be restored"
                )
                continue
            try:
                os.link(files[file_no][1], path, follow_symlinks=False)
                self.result.links += 1
            except OSError as exc:
                self.result.errors.append(f"{display(path)}: cannot link: {exc.strerror}")
        for node, path in reversed(dirs):  # deepest first; after their files were written
            metadata.apply(path, node, self.result.skipped.append, owner=self.owner)

    def _layout(self, nodes: list[Node], dest: str, out: _Layout) -> None:
        for node in nodes:
            path = os.path.join(dest, node.name)
            try:
                if node.type == "dir":
                    _mkdir(path)
                    self.result.dirs += 1
                    out.dirs.append((node, path))
                    if node.subtree:
                        self._layout(self._tree(node.subtree), path, out)
                elif node.type == "file":
                    key = (node.device_id, node.inode)
                    if node.links > 1 and node.device_id and key in out.first_link:
                        out.links.append((path, out.first_link[key]))
                        continue
                    if node.links > 1 and node.device_id:
                        out.first_link[key] = len(out.files)
                    out.files.append((node, path))
                elif node.type == "socket":
                    self.result.skipped.append(f"{display(path)}: socket not restored")
                else:
                    if node.type == "symlink":
                        os.symlink(node.target or "", path)
                    else:
                        metadata.make_special(path, node)
                        self.result.specials += 1
                    metadata.apply(path, node, self.result.skipped.append, owner=self.owner)
            except (VerificationError, NotFoundError) as exc:
                self.result.errors.append(f"{display(path)}: {exc}")
            except OSError as exc:
                self.result.errors.append(f"{display(path)}: {exc.strerror}")

    def _place(self, plan: _Plan, file_no: int, node: Node) -> None:
        """Record where each blob of the file goes; its lengths must add up to its size."""
        offset = 0
        partial = plan.partials[file_no]
        for blob in node.content:
            blob_id = bytes.fromhex(blob)
            entry = self.repo.index.get(blob_id)
            if entry is None:
                raise NotFoundError(f"data blob {blob[:16]} is not in the index")
            if entry.blob_type != "data":
                raise VerificationError(f"blob {blob[:16]} is a {entry.blob_type} blob")
            plan.add(entry, (file_no, partial, offset))
            offset += entry.raw_length
        if offset != node.size:
            raise VerificationError(f"blob sizes add up to {offset}, the tree records {node.size}")

    def _create_partial(self, plan: _Plan, file_no: int) -> None:
        path = plan.partials[file_no]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            plan.fail(file_no, f"cannot create: {exc.strerror}")
            return
        try:
            os.ftruncate(fd, plan.files[file_no][0].size)  # unwritten ranges stay holes
        except OSError as exc:
            plan.fail(file_no, f"cannot create: {exc.strerror}")
        finally:
            os.close(fd)
        if plan.remaining[file_no] == 0:  # an empty file: nothing to write
            self._finish_file(plan, file_no)

    def _finish_file(self, plan: _Plan, file_no: int) -> None:
        """Rename a completely written, completely verified file into place."""
        node, path = plan.files[file_no]
        partial, written = plan.partials[file_no], plan.written[file_no]
        if written != node.size:  # pragma: no cover - _place made the placements add up
            plan.fail(file_no, f"size {written} differs from recorded {node.size}")
            return
        metadata.apply(partial, node, self.result.skipped.append, owner=self.owner, label=path)
        os.replace(partial, path)
        self.result.files += 1
        self.result.bytes += written
        if self.progress is not None:
            self._untold += written
            self._files_untold += 1
            if self._untold >= 4 << 20 or self._files_untold >= 256:
                self.progress(self._untold)
                self._untold = self._files_untold = 0


@dataclass
class _Layout:
    """What :meth:`Restorer._layout` found: files to write, directories, hard links to make."""

    files: list[tuple[Node, str]]
    dirs: list[tuple[Node, str]]
    links: list[tuple[str, int]]  # (path, number of the file it is a link to)
    first_link: dict[tuple[int, int], int]  # (device, inode) -> number of its first file


def _mkdir(path: str) -> None:
    """Make a directory, or accept one that is there: a real one, never a symlink to one."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise


class _Plan:
    """Which blobs of which packs go where, and how far each file has got."""

    def __init__(self, files: list[tuple[Node, str]]) -> None:
        self.files = files
        self.partials = [
            os.path.join(os.path.dirname(p), ".tulou-partial-" + os.path.basename(p))
            for _, p in files
        ]
        self.remaining = [0] * len(files)
        self.written = [0] * len(files)
        self.failed: dict[int, str] = {}
        #: pack id -> blob id -> (offset, sealed length, plaintext length, placements);
        #: packs in the order files first need them.
        self._packs: dict[str, dict[bytes, tuple[int, int, int, list[Placement]]]] = {}

    def add(self, entry: BlobEntry, placement: Placement) -> None:
        blobs = self._packs.setdefault(entry.pack_id, {})
        blob = blobs.setdefault(entry.blob_id, (entry.offset, entry.length, entry.raw_length, []))
        blob[3].append(placement)
        self.remaining[placement[0]] += 1

    def fail(self, file_no: int, reason: str) -> None:
        self.failed.setdefault(file_no, reason)

    def pack_tasks(self) -> Iterator[tuple[str, list[PackBlob]]]:
        """Per pack, its needed blobs in offset order, without files that already failed.

        A pack's blobs are split into tasks of about :data:`TASK_BYTES` sealed bytes, so the
        last tasks of a restore are small and no worker waits long for another.
        """
        for pack_id, blobs in self._packs.items():
            todo: list[PackBlob] = []
            for blob_id, (offset, length, raw_length, placements) in blobs.items():
                live = [p for p in placements if p[0] not in self.failed]
                if live:
                    todo.append((blob_id, offset, length, raw_length, live))
            todo.sort(key=lambda b: b[1])
            task: list[PackBlob] = []
            size = 0
            for blob in todo:
                task.append(blob)
                size += blob[2]
                if size >= TASK_BYTES:
                    yield pack_id, task
                    task, size = [], 0
            if task:
                yield pack_id, task
