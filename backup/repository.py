"""A repository at one target: open/init, blobs in and out, indexes, snapshots.

Write ordering (docs/backup.md, "Ordering"): pack files first; an index file only after every
pack it lists is stored; a snapshot file last, after an index covering all its blobs. So a
crash at any point leaves no snapshot that refers to missing data, and the packs and indexes
already stored let the next run skip the data they hold (resumption).
"""

from __future__ import annotations

import contextlib
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from backup import index as index_file
from backup import snapshot as snapshot_file
from backup.chunker import DEFAULT_AVG, DEFAULT_MAX, DEFAULT_MIN, Chunker
from backup.keys import MasterKeys, RepoConfig, canonical, now_iso, unwrap, wrap
from backup.pack import BlobCodec, BlobEntry, PackWriter, build_pack
from backup.parallel import BlobPool, store_pack
from backup.targets.base import Target
from tulou.errors import ConfigError, NotFoundError, UsageError, VerificationError

#: Write an index file after this many packs, so an interrupted backup loses little.
INDEX_EVERY_PACKS = 8


@dataclass
class WriteStats:
    new_blobs: int = 0
    new_bytes: int = 0  # plaintext bytes of new blobs
    stored_bytes: int = 0  # bytes of pack files written
    packs: int = 0


class Repository:
    """An opened repository. Not thread-safe; one writer per process (see :mod:`backup.lock`)."""

    def __init__(self, target: Target, config: RepoConfig, keys: MasterKeys) -> None:
        self.target = target
        self.config = config
        self.keys = keys
        self.codec = BlobCodec(keys, config.zstd_level, config.version)
        self.index = index_file.Index()
        self.stats = WriteStats()
        self._writers = {"data": PackWriter(self.codec), "tree": PackWriter(self.codec)}
        self._pending: dict[str, list[BlobEntry]] = {}
        self._pending_ids: set[bytes] = set()
        #: Packs being built (and, for a local target, stored) by worker processes, in order.
        self._pool: BlobPool | None = None
        self._inflight: deque[Future[tuple[str, int, list[BlobEntry]]]] = deque()
        #: Called after each pack is stored (tests use it to interrupt a backup).
        self.on_pack_saved: Callable[[str], None] | None = None
        #: The key file the passphrase opened (set by :meth:`open`).
        self.key_name = ""

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        target: Target,
        passphrase: str,
        *,
        keys: MasterKeys | None = None,
        config: RepoConfig | None = None,
        chunk_min: int = DEFAULT_MIN,
        chunk_avg: int = DEFAULT_AVG,
        chunk_max: int = DEFAULT_MAX,
        zstd_level: int = 3,
        kdf_iterations: int | None = None,
    ) -> Repository:
        """Create a repository (or a new site of an existing one, given its keys and config)."""
        with contextlib.suppress(NotFoundError):
            target.stat("config", "config")
            raise UsageError(f"{target.location} already holds a repository")
        keys = keys or MasterKeys.generate()
        config = config or RepoConfig(
            repo_id=secrets.token_hex(32),
            chunk_min=chunk_min,
            chunk_avg=chunk_avg,
            chunk_max=chunk_max,
            zstd_level=zstd_level,
            public_key=keys.public_key,
        )
        kwargs = {"iterations": kdf_iterations} if kdf_iterations else {}
        key_doc = wrap(keys, passphrase, **kwargs)
        from crypto import sm3  # noqa: PLC0415 - only naming the key file needs it here

        # The key file first: a config without a key would be a repository nobody can open.
        target.save("keys", sm3.sm3(key_doc).hex(), key_doc)
        target.save("config", "config", config.to_bytes(keys))
        repo = cls(target, config, keys)
        return repo

    @classmethod
    def open(cls, target: Target, passphrase: str, *, index: bool = True) -> Repository:
        """Open with the passphrase; ``index=False`` skips loading the index (its repair)."""
        config, mac = read_config(target)
        key_files = list(target.list("keys"))
        if not key_files:
            raise NotFoundError(f"{target.location} has no key file")
        last: Exception | None = None
        for info in key_files:
            try:
                keys = unwrap(target.load("keys", info.name), passphrase)
            except VerificationError as exc:
                last = exc
                continue
            config.check_mac(mac, keys)
            repo = cls(target, config, keys)
            repo.key_name = info.name
            if index:
                repo.load_index()
            return repo
        raise VerificationError(f"cannot open {target.location}: {last}")

    def set_pack_size(self, size: int) -> None:
        """Target pack size in bytes (default 16 MiB); call before adding blobs."""
        for writer in self._writers.values():
            writer.target_size = size

    def chunker(self) -> Chunker:
        return Chunker(
            self.keys.chunker_seed,
            min_size=self.config.chunk_min,
            avg_size=self.config.chunk_avg,
            max_size=self.config.chunk_max,
        )

    # -- index ----------------------------------------------------------------------------

    def load_index(self) -> None:
        """(Re)load every index file, honouring ``supersedes``.

        A damaged index file is an error unless a readable one supersedes it (what
        ``repair --index`` leaves on a site that refuses deletions).
        """
        loaded: dict[str, tuple[list[str], list[BlobEntry]]] = {}
        damaged: dict[str, VerificationError] = {}
        for info in self.target.list("index"):
            try:
                loaded[info.name] = index_file.decode(
                    self.keys, info.name, self.target.load("index", info.name)
                )
            except VerificationError as exc:
                damaged[info.name] = exc
        superseded = {s for sup, _ in loaded.values() for s in sup}
        for name, error in sorted(damaged.items()):
            if name not in superseded:
                raise VerificationError(
                    f"{error}; every pack carries its own sealed header: "
                    "`tulou backup repair --index` rebuilds the index from them"
                ) from error
        self.index = index_file.Index()
        for name, (_, entries) in loaded.items():
            if name not in superseded:
                self.index.add(entries)
                self.index.files.add(name)

    # -- blobs ----------------------------------------------------------------------------

    def has_blob(self, blob_id: bytes) -> bool:
        return blob_id in self.index or blob_id in self._pending_ids

    def add_blob(self, blob_type: str, plaintext: bytes) -> bytes:
        """Store a blob unless already present; return its id."""
        return self._add(blob_type, self.codec.blob_id(plaintext), plaintext)

    def add_blobs(self, blob_type: str, plaintexts: Sequence[bytes]) -> list[bytes]:
        """:meth:`add_blob` each plaintext, in order, with the ids computed as one batch."""
        ids = self.codec.blob_ids(plaintexts)
        return [self._add(blob_type, i, p) for i, p in zip(ids, plaintexts, strict=True)]

    def _add(self, blob_type: str, blob_id: bytes, plaintext: bytes) -> bytes:
        if self.has_blob(blob_id):
            return blob_id
        writer = self._writers[blob_type]
        writer.add(blob_type, blob_id, plaintext)
        self._pending_ids.add(blob_id)
        self.stats.new_blobs += 1
        self.stats.new_bytes += len(plaintext)
        if writer.full:
            self._save_pack(writer)
        return blob_id

    def _save_pack(self, writer: PackWriter) -> None:
        """Build and store the writer's pack: in a worker process for a local target."""
        if self._pool is None:
            self._pool = BlobPool(self.codec, target=self.target)
        items = writer.take()
        if self._pool.workers_read:
            self._inflight.append(self._pool.submit(store_pack, items))
            while len(self._inflight) > self._pool.window:
                self._pack_stored(*self._inflight.popleft().result())
        else:
            pack_id, data, entries = build_pack(self.codec, items)
            self.target.save("data", pack_id, data)
            self._pack_stored(pack_id, len(data), entries)

    def _drain(self) -> None:
        """Wait for every pack in flight (in order), then stop the workers."""
        try:
            while self._inflight:
                self._pack_stored(*self._inflight.popleft().result())
        finally:
            self._inflight.clear()
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def _pack_stored(self, pack_id: str, size: int, entries: list[BlobEntry]) -> None:
        self.stats.stored_bytes += size
        self.stats.packs += 1
        self._pending[pack_id] = entries
        if self.on_pack_saved is not None:
            self.on_pack_saved(pack_id)
        if len(self._pending) >= INDEX_EVERY_PACKS:
            self._save_index()

    def _save_index(self) -> None:
        if not self._pending:
            return
        name, data = index_file.encode(self.keys, self._pending)
        self.target.save("index", name, data)
        for entries in self._pending.values():
            self.index.add(entries)
        self.index.files.add(name)
        self._pending_ids -= {e.blob_id for v in self._pending.values() for e in v}
        self._pending = {}

    def flush(self) -> None:
        """Store every buffered blob and an index covering them (call before a snapshot)."""
        try:
            for writer in self._writers.values():
                if len(writer):
                    self._save_pack(writer)
        finally:
            self._drain()
        self._save_index()

    def load_blob(self, blob_type: str, blob_id: bytes) -> bytes:
        entry = self.index.get(blob_id)
        if entry is None:
            raise NotFoundError(f"{blob_type} blob {blob_id.hex()[:16]} is not in the index")
        if entry.blob_type != blob_type:
            raise VerificationError(f"blob {blob_id.hex()[:16]} is a {entry.blob_type} blob")
        sealed = self.target.load("data", entry.pack_id, entry.offset, entry.length)
        return self.codec.open(blob_type, blob_id, sealed)

    # -- snapshots ------------------------------------------------------------------------

    def save_snapshot(self, body: dict[str, Any], time: str | None = None) -> str:
        """Flush, then sign and store the snapshot (last: never a visible partial snapshot)."""
        self.flush()
        sid, data = snapshot_file.encode(self.keys, self.config.repo_id, time or now_iso(), body)
        self.target.save("snapshots", sid, data)
        return sid

    def snapshots(self) -> list[snapshot_file.SnapshotHeader]:
        """Every snapshot, signature-verified, oldest first."""
        return list_snapshots(self.target, self.config)

    def find_snapshot(self, prefix: str) -> snapshot_file.SnapshotHeader:
        return find_snapshot(self.snapshots(), prefix)

    def snapshot_body(self, header: snapshot_file.SnapshotHeader) -> dict[str, Any]:
        return snapshot_file.open_body(self.keys, header)


def read_config(target: Target) -> tuple[RepoConfig, bytes]:
    try:
        raw = target.load("config", "config")
    except NotFoundError as exc:
        raise NotFoundError(
            f"no repository at {target.location} (run `tulou backup init`)"
        ) from exc
    return RepoConfig.parse(raw)


def list_snapshots(target: Target, config: RepoConfig) -> list[snapshot_file.SnapshotHeader]:
    """Verified snapshot headers, oldest first; a bad snapshot raises (never skipped silently)."""
    headers = [
        snapshot_file.verify(
            config.public_key, config.repo_id, info.name, target.load("snapshots", info.name)
        )
        for info in target.list("snapshots")
    ]
    return sorted(headers, key=lambda h: (h.when, h.snapshot_id))


def find_snapshot(
    headers: list[snapshot_file.SnapshotHeader], prefix: str
) -> snapshot_file.SnapshotHeader:
    if prefix == "latest":
        if not headers:
            raise NotFoundError("the repository has no snapshot")
        return headers[-1]
    matches = [h for h in headers if h.snapshot_id.startswith(prefix)]
    if not matches:
        raise NotFoundError(f"no snapshot {prefix!r}")
    if len(matches) > 1:
        raise UsageError(f"snapshot prefix {prefix!r} is ambiguous")
    return matches[0]


def check_pinned(config: RepoConfig, fingerprint: str | None) -> None:
    """Refuse a config whose signing key differs from the fingerprint pinned in the policy."""
    if fingerprint and config.public_key.fingerprint() != fingerprint:
        raise VerificationError(
            "the site's signing key does not match the pinned fingerprint: "
            "the site's config was replaced"
        )


def digest_json(data: Any) -> str:
    from crypto import sm3  # noqa: PLC0415

    return sm3.sm3(canonical(data)).hex()


def ensure_config(config: RepoConfig | None) -> RepoConfig:
    if config is None:
        raise ConfigError("repository config missing")
    return config


def iter_tree_ids(body: dict[str, Any]) -> Iterator[bytes]:
    yield bytes.fromhex(body["tree"])
