"""The archiver: walks prepared source paths, chunks files and stores blobs and trees.

Chunks are stored in batches across files (in read order, so the repository is the same as one
at a time would make); every pending chunk is stored before a tree that refers to it is encoded.

**Live files.** A file is opened once (``O_NOFOLLOW``, ``O_NOATIME`` where allowed) and read to
its end; its node records what was read: the size is the number of bytes read and the times
come from ``fstat`` of the open file, so a file that grows or shrinks between the directory
scan and the read is still stored consistently (it never records a size its content does not
have). Size, mtime and ctime are compared before and after the read; a file that changed while
being read is read again, up to :data:`READ_ATTEMPTS` times, and if it never holds still, the
last read is kept and the node's ``error`` and the run's warnings say so (restic warns the
same way). Reading never maps the file: a file truncated under an ``mmap`` kills the process.

**Incremental fast path.** A file whose size, mtime (ns), ctime (ns, where the parent tree has
it) and inode equal the parent snapshot's node, and whose blobs are all still indexed, is not
read again: its content list is reused (as restic does), which makes an incremental run cost
a directory walk. A file replaced by another one with the same size and mtime (a restore,
``mv``, ``cp -p``) has a new inode and ctime and is read. Hard links (one inode under several
names) are read once per run.

Nothing is skipped silently: every entry that is excluded, vanished, or could not be read is
counted, and each problem is a line of :attr:`Archiver.warnings`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from backup import metadata, tree
from backup.filters import CACHEDIR_TAG, Filters, is_cache_tag
from backup.repository import Repository
from backup.tree import Node, display
from tulou.errors import InputError

type Progress = Callable[[int, int], None]  # (bytes read, files done)
#: Test hook: ``(path, attempt, bytes read so far)``, called after the file is opened (bytes
#: read 0) and after every chunk; a test makes a file change between those points.
type ReadHook = Callable[[str, int, int], None]

#: Chunks are stored in batches (their ids computed together: multi-buffer HMAC-SM3) of at
#: most this many chunks or bytes; a batch never outlives the directory being archived.
BATCH_CHUNKS = 32
BATCH_BYTES = 48 << 20
#: How often a file that changes while it is read is read (the last read is kept).
READ_ATTEMPTS = 3

_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NOATIME = getattr(os, "O_NOATIME", 0)


class _ReadFailed(Exception):
    """Reading a source file failed (never a repository error: those propagate)."""


class Archiver:
    def __init__(
        self,
        repo: Repository,
        progress: Progress | None = None,
        filters: Filters | None = None,
    ) -> None:
        self.repo = repo
        self.chunker = repo.chunker()
        self.progress = progress
        self.filters = filters or Filters()
        self._filters = self.filters  # the ones in force for the source being archived
        self.read_hook: ReadHook | None = None
        self.files = 0
        self.dirs = 0
        self.specials = 0
        self.bytes_read = 0
        self.bytes_total = 0
        self.unchanged = 0
        self.excluded = 0
        self.vanished = 0
        self.changed = 0  # files that changed while read (stored as read, marked)
        self.failed = 0  # entries that could not be backed up
        self.warnings: list[str] = []
        self._names = metadata.Names()
        #: (st_dev, st_ino) -> the node of a hard-linked file read this run.
        self._links: dict[tuple[int, int], Node] = {}
        #: Chunks read but not yet stored: (content list, position in it, plaintext).
        self._chunks: list[tuple[list[str], int, bytes]] = []
        self._chunk_bytes = 0
        self._noatime = _O_NOATIME
        self._untold = 0  # progress not yet reported: bytes, and calls to _tick
        self._ticks = 0

    @property
    def errors(self) -> list[str]:  # the name the snapshot body and older callers use
        return self.warnings

    def _warn(self, message: str) -> None:
        self.warnings.append(message)

    def _parent_nodes(self, subtree: str | None) -> dict[str, Node]:
        if not subtree:
            return {}
        raw = self.repo.load_blob("tree", bytes.fromhex(subtree))
        return {n.name: n for n in tree.decode(raw)}

    # -- files ------------------------------------------------------------------------------

    def archive_file(self, path: str, node: Node, st: os.stat_result, parent: Node | None) -> Node:
        if (
            parent is not None
            and parent.type == "file"
            and parent.size == st.st_size
            and parent.mtime_ns == st.st_mtime_ns
            and parent.ctime_ns in (0, st.st_ctime_ns)  # 0: a version 1 tree
            and parent.inode in (0, st.st_ino)  # 0: a tree from before inodes were recorded
            and not parent.error
            and all(bytes.fromhex(c) in self.repo.index for c in parent.content)
        ):
            node.content = list(parent.content)
            if parent.ctime_ns:  # an xattr change changes ctime: the parent's are current
                node.xattrs = list(parent.xattrs)
            else:
                self._xattrs(path, node)
            self.bytes_total += node.size
            self.unchanged += 1
            self.files += 1
            self._tick(0)
            return node
        link_key = (st.st_dev, st.st_ino)
        first = self._links.get(link_key) if st.st_nlink > 1 else None
        if first is not None and (first.size, first.mtime_ns, first.ctime_ns) == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
        ):
            node.content = first.content  # shared: filled in by _store_chunks like the first's
            node.xattrs = first.xattrs
            self.bytes_total += node.size
            self.files += 1
            self._tick(0)
            return node
        self._read_file(path, node)
        self.bytes_total += node.size
        self.files += 1
        if st.st_nlink > 1 and not node.error:
            self._links[link_key] = node
        return node

    def _open(self, path: str) -> int:
        if self._noatime:
            try:
                return os.open(path, _O_READ | self._noatime)
            except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
                self._noatime = 0
        return os.open(path, _O_READ)

    def _read_file(self, path: str, node: Node) -> None:
        """Read the file into ``node`` (content, size, times from fstat); mark it if it moved."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                fd = self._open(path)
            except OSError as exc:
                raise _ReadFailed(exc.strerror or str(exc)) from exc
            try:
                before = _fstat(fd)
                if not stat.S_ISREG(before.st_mode):
                    raise _ReadFailed("replaced by something that is not a regular file")
                content: list[str] = []
                nbytes = self._read_chunks(fd, path, attempt, content, before.st_size)
                after = _fstat(fd)
                if attempt == 1:
                    try:
                        node.xattrs = metadata.read_xattrs(fd)
                    except OSError as exc:
                        self._warn(f"{display(path)}: xattrs not read: {exc.strerror}")
            finally:
                os.close(fd)
            node.content, node.size = content, nbytes
            node.mode = stat.S_IMODE(after.st_mode)
            node.mtime_ns, node.ctime_ns = after.st_mtime_ns, after.st_ctime_ns
            node.uid, node.gid, node.links = after.st_uid, after.st_gid, after.st_nlink
            node.inode, node.device_id = after.st_ino, after.st_dev
            if _same(before, after) and nbytes == after.st_size:
                return
        self.changed += 1
        node.error = (
            f"changed while being read ({READ_ATTEMPTS} attempts); "
            f"the snapshot holds the {node.size} bytes read last"
        )
        self._warn(f"{display(path)}: {node.error}")

    def _read_chunks(
        self, fd: int, path: str, attempt: int, content: list[str], size_hint: int
    ) -> int:
        hook = self.read_hook
        if hook is not None:
            hook(path, attempt, 0)
        nbytes = 0
        chunks = self.chunker.fd_chunks(fd, size_hint)
        while True:
            try:  # only reading is guarded here: a repository error is not the file's
                chunk = next(chunks)
            except StopIteration:
                break
            except OSError as exc:
                raise _ReadFailed(exc.strerror or str(exc)) from exc
            content.append("")  # filled in by _store_chunks, before any tree is encoded
            self._chunks.append((content, len(content) - 1, chunk))
            self._chunk_bytes += len(chunk)
            nbytes += len(chunk)
            self.bytes_read += len(chunk)
            if len(self._chunks) >= BATCH_CHUNKS or self._chunk_bytes >= BATCH_BYTES:
                self._store_chunks()
            self._tick(len(chunk))
            if hook is not None:
                hook(path, attempt, nbytes)
        return nbytes

    def _store_chunks(self) -> None:
        """Store the chunks read so far, in read order, their ids computed as one batch."""
        if not self._chunks:
            return
        ids = self.repo.add_blobs("data", [chunk for _, _, chunk in self._chunks])
        for (content, at, _), blob_id in zip(self._chunks, ids, strict=True):
            content[at] = blob_id.hex()
        self._chunks.clear()
        self._chunk_bytes = 0

    def _tick(self, nbytes: int) -> None:
        """Report progress every few MiB or hundred files (a call per small file cost more
        than archiving it: rich's bar takes ~20 us per update even when hidden)."""
        if self.progress is None:
            return
        self._untold += nbytes
        self._ticks += 1
        if self._untold >= 4 << 20 or self._ticks >= 256:
            self._tell()

    def _tell(self) -> None:
        if self.progress is not None and (self._untold or self._ticks):
            self.progress(self._untold, self.files)
        self._untold = self._ticks = 0

    # -- directories and entries ------------------------------------------------------------

    def archive_dir(self, path: str, parent_subtree: str | None) -> str:
        """Store the tree of ``path`` (recursively); return its tree id (hex)."""
        parent = self._parent_nodes(parent_subtree)
        nodes: list[Node] = []
        self.dirs += 1
        try:
            with os.scandir(path) as scan:
                names = tree.sort_names([e.name for e in scan])
        except OSError as exc:
            self.failed += 1
            self._warn(f"{display(path)}: cannot list: {exc.strerror}")
            names = []
        caches = self._filters.exclude_caches and CACHEDIR_TAG in names
        if caches and _tagged(os.path.join(path, CACHEDIR_TAG)):
            self.excluded += len(names) - 1
            names = [CACHEDIR_TAG]
        for name in names:
            node = self.archive_entry(os.path.join(path, name), name, parent.get(name))
            if node is not None:
                nodes.append(node)
        self._store_chunks()
        return self.repo.add_blob("tree", tree.encode(nodes)).hex()

    def archive_entry(
        self, path: str, name: str, parent: Node | None, *, root: bool = False
    ) -> Node | None:
        """The node of one entry, or None (excluded, vanished, unreadable: counted, warned)."""
        if not root and self._filters.excluded(path):
            self.excluded += 1
            return None
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self.vanished += 1
            self._warn(f"{display(path)}: vanished before it was read")
            return None
        except OSError as exc:
            self.failed += 1
            self._warn(f"{display(path)}: cannot stat: {exc.strerror}")
            return None
        kind = metadata.node_type(st)
        if kind is None:
            self.failed += 1
            self._warn(f"{display(path)}: not backed up: unknown file type {st.st_mode:o}")
            return None
        if kind == "file" and not root and self._filters.too_large(st.st_size):
            self.excluded += 1
            return None
        node = metadata.from_stat(name, kind, st, self._names)
        try:
            if kind == "file":
                return self.archive_file(path, node, st, parent)
            self._xattrs(path, node)
            if kind == "symlink":
                node.target = os.readlink(path)
            elif kind == "dir":
                node.subtree = self.archive_dir(
                    path, parent.subtree if parent and parent.type == "dir" else None
                )
            else:
                self.specials += 1
        except _ReadFailed as exc:
            self._unreadable(path, exc)
            return None
        except FileNotFoundError:
            self.vanished += 1
            self._warn(f"{display(path)}: vanished while it was read")
            return None
        except OSError as exc:
            self._unreadable(path, exc)
            return None
        return node

    def _unreadable(self, path: str, exc: Exception) -> None:
        if isinstance(exc, _ReadFailed) and exc.__cause__ is not None:
            cause = exc.__cause__
            if isinstance(cause, OSError) and cause.errno == errno.ENOENT:
                self.vanished += 1
                self._warn(f"{display(path)}: vanished before it was read")
                return
        self.failed += 1
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        self._warn(f"{display(path)}: not backed up: {reason}")

    def _xattrs(self, path: str, node: Node) -> None:
        try:
            node.xattrs = metadata.read_xattrs(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise
            self._warn(f"{display(path)}: xattrs not read: {exc.strerror}")

    def archive_root(
        self,
        items: list[tuple[str, Path]],
        parent_tree: str | None,
        filtered: Collection[str] | None = None,
    ) -> str:
        """The snapshot's root tree: one entry per source, named by the source.

        The filters apply to the sources named in ``filtered`` (default: all); prepared
        sources (a database copy, a dump) are always taken whole.
        """
        parent = self._parent_nodes(parent_tree)
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            raise InputError(f"two sources share a name: {names}")
        nodes = []
        for name, path in items:
            on = filtered is None or name in filtered
            self._filters = self.filters if on else Filters()
            node = self.archive_entry(os.fspath(path), name, parent.get(name), root=True)
            if node is None:
                raise InputError(f"source {name!r} could not be read: {self.warnings[-1]}")
            nodes.append(node)
        self._store_chunks()
        self._tell()
        return self.repo.add_blob("tree", tree.encode(nodes)).hex()

    def summary(self) -> dict[str, int]:
        return {
            "files": self.files,
            "dirs": self.dirs,
            "special_files": self.specials,
            "bytes": self.bytes_total,
            "bytes_read": self.bytes_read,
            "unchanged_files": self.unchanged,
            "excluded": self.excluded,
            "vanished": self.vanished,
            "changed_while_read": self.changed,
            "errors": self.failed,
        }


def _fstat(fd: int) -> os.stat_result:
    try:
        return os.fstat(fd)
    except OSError as exc:
        raise _ReadFailed(exc.strerror or str(exc)) from exc


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ctime_ns, a.st_ino) == (
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
        b.st_ino,
    )


def _tagged(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return is_cache_tag(handle.read(64))
    except OSError:
        return False


def iter_nodes(repo: Repository, tree_id: str) -> Iterator[tuple[str, Node]]:
    """Every node below ``tree_id`` as (relative path, node), depth first, parents first."""
    todo = [("", tree_id)]
    while todo:
        prefix, tid = todo.pop()
        for node in tree.decode(repo.load_blob("tree", bytes.fromhex(tid))):
            rel = f"{prefix}/{node.name}" if prefix else node.name
            yield rel, node
            if node.type == "dir" and node.subtree:
                todo.append((rel, node.subtree))
