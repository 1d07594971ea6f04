"""The archiver: walks prepared source paths, chunks files and stores blobs and trees.

Chunks are stored in batches across files (in read order, so the repository is the same as one
at a time would make); every pending chunk is stored before a tree that refers to it is encoded.

A file whose size, mtime (ns) and inode equal the parent snapshot's node, and whose blobs are
all still indexed, is not read again: its content list is reused (as restic does), which makes
an incremental run cost a directory walk. A file replaced by another one with the same size and
mtime (a restore, ``mv``, ``cp -p``) has a new inode and is read. A tool that rewrites a file in
place and then resets its mtime defeats this check, as it does restic's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from backup import tree
from backup.repository import Repository
from backup.tree import Node
from tulou.errors import InputError

type Progress = Callable[[int, int], None]  # (bytes read, files done)

#: Chunks are stored in batches (their ids computed together: multi-buffer HMAC-SM3) of at
#: most this many chunks or bytes; a batch never outlives the directory being archived.
BATCH_CHUNKS = 32
BATCH_BYTES = 48 << 20


class Archiver:
    def __init__(self, repo: Repository, progress: Progress | None = None) -> None:
        self.repo = repo
        self.chunker = repo.chunker()
        self.progress = progress
        self.files = 0
        self.dirs = 0
        self.bytes_read = 0
        self.bytes_total = 0
        self.unchanged = 0
        self.errors: list[str] = []
        #: Chunks read but not yet stored: (file node, position in its content, plaintext).
        self._chunks: list[tuple[Node, int, bytes]] = []
        self._chunk_bytes = 0

    def _parent_nodes(self, subtree: str | None) -> dict[str, Node]:
        if not subtree:
            return {}
        raw = self.repo.load_blob("tree", bytes.fromhex(subtree))
        return {n.name: n for n in tree.decode(raw)}

    def archive_file(self, path: Path, name: str, st: os.stat_result, parent: Node | None) -> Node:
        node = Node(
            name=name,
            type="file",
            mode=stat.S_IMODE(st.st_mode),
            mtime_ns=st.st_mtime_ns,
            size=st.st_size,
            inode=st.st_ino,
        )
        self.files += 1
        self.bytes_total += st.st_size
        if (
            parent is not None
            and parent.type == "file"
            and parent.size == st.st_size
            and parent.mtime_ns == st.st_mtime_ns
            and parent.inode in (0, st.st_ino)  # 0: a tree from before inodes were recorded
            and all(bytes.fromhex(c) in self.repo.index for c in parent.content)
        ):
            node.content = list(parent.content)
            self.unchanged += 1
            self._tick(0)
            return node
        try:
            for chunk in self.chunker.file(path):
                node.content.append("")  # filled in by _store_chunks, before any tree is encoded
                self._chunks.append((node, len(node.content) - 1, chunk))
                self._chunk_bytes += len(chunk)
                if len(self._chunks) >= BATCH_CHUNKS or self._chunk_bytes >= BATCH_BYTES:
                    self._store_chunks()
                self.bytes_read += len(chunk)
                self._tick(len(chunk))
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        return node

    def _store_chunks(self) -> None:
        """Store the chunks read so far, in read order, their ids computed as one batch."""
        if not self._chunks:
            return
        ids = self.repo.add_blobs("data", [chunk for _, _, chunk in self._chunks])
        for (node, at, _), blob_id in zip(self._chunks, ids, strict=True):
            node.content[at] = blob_id.hex()
        self._chunks.clear()
        self._chunk_bytes = 0

    def _tick(self, nbytes: int) -> None:
        if self.progress is not None:
            self.progress(nbytes, self.files)

    def archive_dir(self, path: Path, parent_subtree: str | None) -> str:
        """Store the tree of ``path`` (recursively); return its tree id (hex)."""
        parent = self._parent_nodes(parent_subtree)
        nodes: list[Node] = []
        self.dirs += 1
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            raise InputError(f"cannot list {path}: {exc.strerror}") from exc
        for entry in entries:
            node = self.archive_entry(Path(entry.path), entry.name, parent.get(entry.name))
            if node is not None:
                nodes.append(node)
        self._store_chunks()
        return self.repo.add_blob("tree", tree.encode(nodes)).hex()

    def archive_entry(self, path: Path, name: str, parent: Node | None) -> Node | None:
        try:
            st = path.lstat()
        except OSError as exc:
            raise InputError(f"cannot stat {path}: {exc.strerror}") from exc
        if stat.S_ISLNK(st.st_mode):
            return Node(
                name=name,
                type="symlink",
                mode=0o777,
                mtime_ns=st.st_mtime_ns,
                target=os.readlink(path),
            )
        if stat.S_ISDIR(st.st_mode):
            subtree = self.archive_dir(
                path, parent.subtree if parent and parent.type == "dir" else None
            )
            return Node(
                name=name,
                type="dir",
                mode=stat.S_IMODE(st.st_mode),
                mtime_ns=st.st_mtime_ns,
                subtree=subtree,
            )
        if stat.S_ISREG(st.st_mode):
            return self.archive_file(path, name, st, parent)
        self.errors.append(f"{path}: skipped (not a regular file, directory or symlink)")
        return None

    def archive_root(self, items: list[tuple[str, Path]], parent_tree: str | None) -> str:
        """The snapshot's root tree: one entry per source, named by the source."""
        parent = self._parent_nodes(parent_tree)
        nodes = [
            n
            for name, path in items
            if (n := self.archive_entry(path, name, parent.get(name))) is not None
        ]
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            raise InputError(f"two sources share a name: {names}")
        self._store_chunks()
        return self.repo.add_blob("tree", tree.encode(nodes)).hex()
