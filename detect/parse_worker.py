"""Parse line-oriented input in a worker process while the calling process writes.

Parsing and writing an event cost about the same CPU; done in one process they add up. For a
parser whose records are independent lines (:func:`chunkable`), :func:`parse_parallel` cuts the
stream at line ends into chunks of :data:`CHUNK_BYTES`, has a single worker process parse them
(at most :data:`AHEAD` chunks ahead of the consumer, so memory stays bounded) and yields the
items in input order -- exactly the items ``parser.parse(stream, source)`` would yield: each
chunk is parsed with ``source.offset`` moved to the chunk's start, so positions and event ids
are the same.

:meth:`ParseWorker.parse_batches` goes further for a store that can have its batches encoded
elsewhere (:class:`detect.stores.base.EncodesBatches`, e.g. SQLite rows and documents): the
worker also cuts each chunk's events into batches and encodes them, so the calling process
only writes. Batches then never span two chunks; the events, their order and the rejected
records are the same.

The worker is started with ``spawn`` (no fork of a process that may hold threads or an open
database) and costs a few hundred milliseconds to start, so :func:`worth_it` keeps small
inputs in-process.

Workers never outlive the process that started them (a SIGKILLed ``tulou detect ingest`` left
them running for minutes): each asks the kernel for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``, Linux; only when the pool is made on the main thread, since the signal
follows the *thread* that forked), and a watcher thread in each polls ``getppid()`` every
:data:`PARENT_POLL` seconds and exits when the parent is gone (any POSIX system, and the
race where the parent died before the worker set the signal).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from detect.model import Rejected, Source
from detect.parsers import Parser
from detect.parsers.base import Item, LineParser
from tulou.events import Event

type Encoder = Callable[[Sequence[Event]], Sequence[Event]]

#: Bytes per chunk handed to the worker (whole lines; a longer line makes a longer chunk).
CHUNK_BYTES = 1 << 20
#: The first chunk's size; each next one is 4x larger up to :data:`CHUNK_BYTES`. The writer
#: waits for the first chunk (while the workers start): a small one ends that wait sooner.
FIRST_CHUNK_BYTES = 64 << 10
#: Chunks submitted ahead of the one being consumed.
AHEAD = 3
#: Inputs smaller than this are parsed in-process (starting the worker would cost more).
MIN_BYTES = 8 << 20
#: Seconds between a worker's checks that its parent still lives.
PARENT_POLL = 0.5
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int, use_pdeathsig: bool) -> None:
    """Worker initializer: end this process when ``parent`` ends (module docstring)."""
    if use_pdeathsig and hasattr(os, "sched_getaffinity"):  # Linux
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watcher below still ends the worker
    if os.getppid() != parent:  # the parent died before the signal was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)  # no clean-up: the parent that would collect our results is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def chunkable(parser: Parser) -> bool:
    """True for a :class:`LineParser` that keeps the base ``parse`` (records are lines)."""
    return isinstance(parser, LineParser) and type(parser).parse is LineParser.parse


def worth_it(stream: BinaryIO, parser: Parser) -> bool:
    """A chunkable parser, two or more CPUs, and at least :data:`MIN_BYTES` left to read."""
    if not chunkable(parser) or (os.cpu_count() or 1) < 2:
        return False
    try:
        if not stream.seekable():
            return False
        here = stream.tell()
        size = stream.seek(0, io.SEEK_END)
        stream.seek(here)
    except (OSError, ValueError):
        return False
    return size - here >= MIN_BYTES


def chunks(
    stream: BinaryIO, size: int = CHUNK_BYTES, first: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """``(offset from the stream's start, bytes)`` pieces, each ending at a newline.

    Pieces are read ``size`` bytes at a time (``first`` bytes for the first one, then 4x more
    each time up to ``size``). The last piece may lack a newline (a final line without one);
    nothing is dropped.
    """
    offset = 0
    rest = b""
    want = min(first or size, size)
    while True:
        block = stream.read(want)
        want = min(want * 4, size)
        if not block:
            if rest:
                yield offset, rest
            return
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:  # one line longer than ``size``: keep reading it
            rest = block
            continue
        yield offset, block[:cut]
        offset += cut
        rest = block[cut:]


def _parse_chunk(parser: Parser, source: Source, data: bytes) -> list[Item]:
    return list(parser.parse(io.BytesIO(data), source))


@dataclass(frozen=True)
class ParsedChunk:
    """One chunk parsed in the worker: its record count, rejected records, encoded batches."""

    records: int
    rejected: list[Rejected]
    batches: list[Sequence[Event]]


def _parse_and_encode(
    parser: Parser, source: Source, data: bytes, encode: Encoder, batch_size: int
) -> ParsedChunk:
    rejected: list[Rejected] = []
    events: list[Event] = []
    for item in parser.parse(io.BytesIO(data), source):
        if isinstance(item, Rejected):
            rejected.append(item)
        else:
            events.append(item)
    batches = [encode(events[i : i + batch_size]) for i in range(0, len(events), batch_size)]
    return ParsedChunk(len(rejected) + len(events), rejected, batches)


class ParseWorker:
    """``workers`` worker processes, started on first use; :meth:`close` stops them."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            main = threading.current_thread() is threading.main_thread()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_die_with_parent,
                initargs=(os.getpid(), main),
            )
        return self._pool

    def _in_order[T](
        self, stream: BinaryIO, source: Source, parser: Parser, task: Callable[..., T], *args: Any
    ) -> Iterator[T]:
        """``task(parser, source moved to the chunk, chunk, *args)`` per chunk, in order."""
        pool = self._executor()
        ahead = max(AHEAD, 2 * self.workers)
        pending: deque[Future[T]] = deque()
        for offset, data in chunks(stream, CHUNK_BYTES, FIRST_CHUNK_BYTES):
            where = replace(source, offset=source.offset + offset)
            pending.append(pool.submit(task, parser, where, data, *args))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def parse(self, stream: BinaryIO, source: Source, parser: Parser) -> Iterator[Item]:
        """The items of ``parser.parse(stream, source)``, parsed in the worker, in order."""
        for items in self._in_order(stream, source, parser, _parse_chunk):
            yield from items

    def parse_batches(
        self, stream: BinaryIO, source: Source, parser: Parser, encode: Encoder, batch_size: int
    ) -> Iterator[ParsedChunk]:
        """Per chunk, in order: its rejected records and its events encoded in batches of at
        most ``batch_size`` (``encode`` must be a picklable module-level function)."""
        yield from self._in_order(stream, source, parser, _parse_and_encode, encode, batch_size)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
