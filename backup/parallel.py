"""Blob crypto in workers: building packs, opening blobs, checking whole packs.

The bulk work (SM3, SM4-GCM, zstd) goes to a small pool (:func:`default_workers`:
``min(2, cpu count)``; ``TULOU_BACKUP_WORKERS`` overrides it, 0 or 1 runs everything inline).
The workers are threads when Tulou's native SM3/SM4 code is active (it releases the GIL, as
zstd does) and processes otherwise (OpenSSL through ``cryptography`` holds the GIL):
:func:`use_threads`.

Keys: each worker rebuilds a :class:`~backup.pack.BlobCodec` from the data and id keys it is
given at start-up, in memory only (a thread's initializer; for processes, inherited through
``fork`` or sent over the forkserver's local socket when the parent already runs threads).
Nothing is written to disk, and a worker holds no signing key. Workers check exactly what the
inline code checks: every blob's GCM tag and keyed-SM3 id, every pack's header and name.
Arguments and results cross between this process and its own children only (the executor's
pipes); nothing read from a repository is ever unpickled, and a codec refuses to be pickled at
all.

:class:`BlobPool` keeps results in submission order and bounds the work in flight (``window``
tasks), so memory stays at a few packs whatever the size of the repository.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import Any

from backup.pack import BlobCodec, BlobEntry, PackItem, build_pack
from backup.targets.base import Target
from backup.targets.local import LocalTarget
from tulou.errors import InputError, TulouError, VerificationError


def default_workers() -> int:
    raw = os.environ.get("TULOU_BACKUP_WORKERS")
    if raw is not None:
        try:
            return max(0, int(raw))
        except ValueError as exc:
            raise InputError("TULOU_BACKUP_WORKERS must be an integer") from exc
    return min(2, os.cpu_count() or 1)


def use_threads() -> bool:
    """Whether workers are threads (True) or processes.

    Threads when the native SM3 and SM4 code is active: it releases the GIL, as zstd does, so
    threads overlap the bulk work without copying every blob through a pipe to another process
    (pickling and pipe writes were ~1.3 s of the main process's CPU per 400 MB backed up).
    OpenSSL through ``cryptography`` holds the GIL, so without the native code workers are
    processes. ``TULOU_BACKUP_EXECUTOR=threads|processes`` overrides.
    """
    choice = os.environ.get("TULOU_BACKUP_EXECUTOR", "auto")
    if choice not in ("auto", "threads", "processes"):
        raise InputError("TULOU_BACKUP_EXECUTOR must be auto, threads or processes")
    if choice != "auto":
        return choice == "threads"
    from crypto import sm3, sm4  # noqa: PLC0415 - only deciding the executor needs them

    return sm3.native_active() and sm4.native_active()


#: Each worker's own codec (a zstd context is not shared between threads) and its handle on a
#: local repository: per worker process, or per worker thread.
_WORKER = threading.local()


_PR_SET_PDEATHSIG = 1


def die_with(main: int) -> None:
    """End this worker process when process ``main`` (the command that started it) ends.

    A worker holds the data and id keys: after ``kill -9`` of ``tulou backup run`` its workers
    lived on with ppid 1 until killed by hand. Two mechanisms, because a worker's parent is
    not always ``main`` (through a forkserver it is the forkserver, which may outlive it):

    - ``PR_SET_PDEATHSIG``: the kernel sends SIGKILL when the parent ends (forked workers);
    - a daemon thread blocked on a pidfd of ``main``, which becomes readable when ``main``
      ends; the thread then ends the process at once (``os._exit``: no clean-up runs that
      could wait on the dead parent's pipes).

    Either alone covers the fork start method; the pidfd covers every method. If ``main`` is
    already gone when this runs, the worker exits immediately.
    """
    if os.getppid() == main:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - not Linux
            pass
    try:
        pidfd = os.pidfd_open(main)
    except ProcessLookupError:
        os._exit(1)
    except (OSError, AttributeError):  # pragma: no cover - kernel < 5.3: PDEATHSIG only
        return

    def watch() -> None:
        select.select([pidfd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="tulou-watch-parent", daemon=True).start()


def _init_worker(  # noqa: PLR0917 - executors pass initargs positionally
    data_key: bytes,
    id_key: bytes,
    zstd_level: int,
    version: int,
    target: Target | None,
    main: int = 0,
) -> None:
    if main:  # a worker process (thread workers end with their process anyway)
        die_with(main)
    _WORKER.codec = BlobCodec.from_secrets(data_key, id_key, zstd_level, version)
    _WORKER.target = target


def _codec() -> BlobCodec:
    codec: BlobCodec | None = getattr(_WORKER, "codec", None)
    if codec is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("worker codec not initialised")
    return codec


def _target() -> Target:
    target: Target | None = getattr(_WORKER, "target", None)
    if target is None:  # pragma: no cover - BlobPool only sends these with a local target
        raise RuntimeError("worker has no target")
    return target


# -- the work itself (run inline with an explicit codec, or in a worker) --------------------

type OpenItem = tuple[str, bytes, bytes]  # (blob type, blob id, sealed bytes)
#: Sealed bytes opened as one batch (ids checked together by multi-buffer HMAC-SM3).
OPEN_BATCH_BYTES = 16 << 20
type Opened = bytes | str  # plaintext, or the reason it could not be verified


def open_blobs(codec: BlobCodec, items: list[OpenItem]) -> list[Opened]:
    """Open and verify each blob; a failure becomes its message (the others still open)."""
    return codec.open_many(items)


def check_pack(codec: BlobCodec, pack_id: str, data: bytes) -> list[str]:
    """Every problem of one pack: name (of its content), header, each blob's tag and id."""
    errors: list[str] = []
    if codec.pack_name(data) != pack_id:
        errors.append(f"pack {pack_id[:16]}: content does not match its name")
    try:
        entries: list[BlobEntry] = codec.read_header(pack_id, data)
    except VerificationError as exc:
        return [*errors, str(exc)]
    view = memoryview(data)
    # In slices of a few MiB, so the plaintexts of a whole pack are never all held at once.
    batch: list[OpenItem] = []
    size = 0
    for n, entry in enumerate(entries, 1):
        batch.append(
            (
                entry.blob_type,
                entry.blob_id,
                bytes(view[entry.offset : entry.offset + entry.length]),
            )
        )
        size += entry.length
        if size >= OPEN_BATCH_BYTES or n == len(entries):
            errors.extend(
                f"pack {pack_id[:16]}: {r}" for r in codec.open_many(batch) if isinstance(r, str)
            )
            batch, size = [], 0
    return errors


def check_stored_pack(codec: BlobCodec, target: Target, pack_id: str) -> tuple[int, list[str]]:
    """Load one pack and :func:`check_pack` it: (bytes read, problems); -1 if unreadable."""
    try:
        data = target.load("data", pack_id)
    except TulouError as exc:
        return -1, [f"pack {pack_id[:16]}: {exc}"]
    return len(data), check_pack(codec, pack_id, data)


#: Where one blob's plaintext goes: (file number, partial file path, offset in that file).
type Placement = tuple[int, str, int]
#: One blob of a pack to restore: (blob id, offset in pack, sealed length, plaintext length,
#: every placement of it), in pack offset order.
type PackBlob = tuple[bytes, int, int, int, list[Placement]]
#: What :func:`write_blobs` did: (blobs verified, [(file, bytes written)] per placement
#: written, [(file, reason)] per file that must not be completed).
type Written = tuple[int, list[tuple[int, int]], list[tuple[int, str]]]

#: Blobs closer than this in a pack are read together (one read, the gap discarded).
READ_GAP = 1 << 20
#: Upper bound of one coalesced read.
READ_MAX = 32 << 20


def read_runs(blobs: list[PackBlob]) -> Iterator[tuple[int, int, list[PackBlob]]]:
    """Group offset-ordered blobs into (start, end, blobs) ranges read with one load each."""
    run: list[PackBlob] = []
    start = end = 0
    for blob in blobs:
        offset, length = blob[1], blob[2]
        if run and (offset - end > READ_GAP or offset + length - start > READ_MAX):
            yield start, end, run
            run = []
        if not run:
            start = offset
        run.append(blob)
        end = max(end, offset + length)
    if run:
        yield start, end, run


def write_blobs(codec: BlobCodec, target: Target, pack_id: str, blobs: list[PackBlob]) -> Written:
    """Open and verify each blob of one pack once; ``pwrite`` its plaintext to every placement.

    The partial files must exist, at their final size (they are opened without ``O_CREAT``, so
    a file the caller has already given up on and removed is never recreated; ranges of zeros
    are not written, so they stay holes). A blob that cannot be read, does not verify or has
    the wrong length is written nowhere, and every file that needs it is reported as failed;
    so is a file that cannot be written. When a coalesced read fails (a truncated or
    unreadable pack), its blobs are read one by one, so only the files that need a blob that
    really is unreadable fail. The caller completes a file only when every placement of it
    was reported written.
    """
    verified = 0
    written: list[tuple[int, int]] = []
    failed: dict[int, str] = {}
    fds: dict[int, int] = {}

    def fail(blob: PackBlob, reason: str) -> None:
        for file_no, _, _ in blob[4]:
            failed.setdefault(file_no, reason)

    try:
        for start, end, run in read_runs(blobs):
            try:
                data = memoryview(target.load("data", pack_id, start, end - start))
            except TulouError as exc:
                if len(run) == 1:
                    fail(run[0], f"pack {pack_id[:16]}: {exc}")
                    continue
                opened = []
                for blob in run:  # one by one: only the blobs really unreadable fail
                    try:
                        sealed = target.load("data", pack_id, blob[1], blob[2])
                    except TulouError as one:
                        fail(blob, f"pack {pack_id[:16]}: {one}")
                        continue
                    opened.append((blob, codec.open_many([("data", blob[0], sealed)])[0]))
            else:
                results = codec.open_many(
                    [("data", b[0], bytes(data[b[1] - start : b[1] - start + b[2]])) for b in run]
                )
                opened = list(zip(run, results, strict=True))
            for blob, result in opened:
                blob_id, _, sealed_length, raw_length, placements = blob
                if isinstance(result, bytes) and len(result) != raw_length:
                    result = (  # noqa: PLW2901 - the blob's outcome becomes its failure reason
                        f"data blob {blob_id.hex()[:16]} has {len(result)} bytes, "
                        f"the index says {raw_length}"
                    )
                if isinstance(result, str):
                    fail(blob, result)
                    continue
                plaintext = result
                verified += 1
                # Zeros compress to almost nothing: only such blobs are looked at for holes.
                sparse = sealed_length * 4 < raw_length
                for file_no, path, file_offset in placements:
                    if file_no in failed:
                        continue
                    try:
                        fd = fds.get(file_no)
                        if fd is None:
                            fd = fds[file_no] = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
                        if sparse:
                            _pwrite_sparse(fd, plaintext, file_offset)
                        else:
                            _pwrite_all(fd, plaintext, file_offset)
                    except OSError as exc:
                        failed[file_no] = f"cannot write: {exc.strerror}"
                        continue
                    written.append((file_no, len(plaintext)))
    finally:
        for fd in fds.values():
            os.close(fd)
    return verified, written, sorted(failed.items())


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


#: Holes are restored in units of this many bytes (aligned in the file), the usual block size.
HOLE_BLOCK = 4096
_ZERO_BLOCK = bytes(HOLE_BLOCK)
_ZEROS = bytes(8 << 20)  # compared with, never written (calloc'd: costs no memory until read)


def _pwrite_sparse(fd: int, data: bytes, offset: int) -> None:
    """Write ``data`` at ``offset`` except its aligned blocks of zeros (left as holes).

    The file was created at its final size, so what is not written reads as zeros.
    """
    if len(data) <= len(_ZEROS) and _ZEROS.startswith(data):
        return
    view = memoryview(data)
    pos = (-offset) % HOLE_BLOCK  # the first block boundary of the file inside data
    run = 0  # start of the pending non-zero run
    while pos + HOLE_BLOCK <= len(data):
        if data.startswith(_ZERO_BLOCK, pos):
            if pos > run:
                _pwrite_all(fd, view[run:pos], offset + run)
            run = pos + HOLE_BLOCK
        pos += HOLE_BLOCK
    if run < len(data):
        _pwrite_all(fd, view[run:], offset + run)


def _w_write_blobs(pack_id: str, blobs: list[PackBlob]) -> Written:
    return write_blobs(_codec(), _target(), pack_id, blobs)


def store_pack(
    codec: BlobCodec, target: Target, items: list[PackItem]
) -> tuple[str, int, list[BlobEntry]]:
    """Build a pack from ``items`` and save it: (pack id, stored bytes, entries)."""
    pack_id, data, entries = build_pack(codec, items)
    target.save("data", pack_id, data)
    return pack_id, len(data), entries


def _w_store_pack(items: list[PackItem]) -> tuple[str, int, list[BlobEntry]]:
    return store_pack(_codec(), _target(), items)


def _w_open_blobs(items: list[OpenItem]) -> list[Opened]:
    return open_blobs(_codec(), items)


def _w_check_pack(pack_id: str, data: bytes) -> list[str]:
    return check_pack(_codec(), pack_id, data)


def _w_check_stored_pack(pack_id: str) -> tuple[int, list[str]]:
    return check_stored_pack(_codec(), _target(), pack_id)


def _w_build_pack(items: list[PackItem]) -> tuple[str, bytes, list[BlobEntry]]:
    return build_pack(_codec(), items)


_WORKER_FN: dict[Callable[..., Any], Callable[..., Any]] = {
    open_blobs: _w_open_blobs,
    check_pack: _w_check_pack,
    check_stored_pack: _w_check_stored_pack,
    write_blobs: _w_write_blobs,
    store_pack: _w_store_pack,
    build_pack: _w_build_pack,
}

_NEEDS_TARGET = (check_stored_pack, write_blobs, store_pack)


class BlobPool:
    """Runs :func:`open_blobs`, :func:`check_pack` and :func:`build_pack` in worker processes.

    ``workers <= 1`` runs inline (same results, no processes). Processes start on first use and
    stop on :meth:`close` (or leaving the ``with`` block).
    """

    def __init__(
        self,
        codec: BlobCodec,
        workers: int | None = None,
        window: int = 0,
        target: Target | None = None,
    ) -> None:
        self.codec = codec
        self.target = target
        #: Set only for a local directory: workers then read it themselves (no bulk transfer
        #: through pipes); remote targets' connections are never shared across processes.
        self.local_target = target if isinstance(target, LocalTarget) else None
        self.workers = default_workers() if workers is None else workers
        self.window = window or max(2, self.workers * 2)
        self._executor: Executor | None = None

    def __enter__(self) -> BlobPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def start(self) -> None:
        """Start the workers now (before this process starts threads of its own: forking a
        process without other threads is cheaper and safer than a forkserver)."""
        if self.parallel:
            self._pool()

    @property
    def parallel(self) -> bool:
        return self.workers > 1

    def _pool(self) -> Executor:
        if self._executor is None and use_threads():
            self._executor = ThreadPoolExecutor(
                self.workers,
                thread_name_prefix="tulou-blob",
                initializer=_init_worker,
                initargs=(*self.codec.secrets(), self.local_target),
            )
        if self._executor is None:
            # fork is cheapest (the workers inherit the imported modules); a process that
            # already runs threads (a progress bar) uses a forkserver, since forking it is unsafe.
            method = "fork" if threading.active_count() == 1 else "forkserver"
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context(method),
                initializer=_init_worker,
                initargs=(*self.codec.secrets(), self.local_target, os.getpid()),
            )
        return self._executor

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(codec, *args)`` (one of this module's work functions) in a worker.

        :func:`check_stored_pack`, :func:`write_blobs` and :func:`store_pack` take no target
        argument here: they use the pool's.
        """
        future: Future[Any]
        if not self.parallel:
            if fn in _NEEDS_TARGET:
                if self.target is None:
                    raise ValueError(f"{fn.__name__} needs a pool built with a target")
                args = (self.target, *args)
            future = Future()
            try:
                future.set_result(fn(self.codec, *args))
            except BaseException as exc:  # noqa: BLE001 - delivered through the future
                future.set_exception(exc)
            return future
        if fn in _NEEDS_TARGET and self.local_target is None:
            raise ValueError("workers read only local targets: load the pack and check_pack it")
        return self._pool().submit(_WORKER_FN[fn], *args)

    @property
    def workers_read(self) -> bool:
        """True when workers load packs themselves (parallel, local target)."""
        return self.parallel and self.local_target is not None

    def ordered[T](
        self, fn: Callable[..., Any], tasks: Iterable[tuple[T, tuple[Any, ...]]]
    ) -> Iterator[tuple[T, Any]]:
        """Yield ``(tag, fn(codec, *args))`` per ``(tag, args)``, in order, ``window`` ahead."""
        inflight: deque[tuple[T, Future[Any]]] = deque()
        for tag, args in tasks:
            inflight.append((tag, self.submit(fn, *args)))
            if len(inflight) >= self.window:
                done_tag, future = inflight.popleft()
                yield done_tag, future.result()
        while inflight:
            done_tag, future = inflight.popleft()
            yield done_tag, future.result()
