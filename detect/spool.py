"""The on-disk buffer for events a store could not take yet, and the writer that uses it.

Spool layout: a directory of segment files ``<run>-<seq>.ndjson`` (one event per line), each
written to a temporary name, fsync'ed and renamed, so a segment is either complete or absent.
Segments are replayed oldest first and deleted only after the store accepted them; a crash in
between replays a segment twice, which the store reports as duplicates (ids are deterministic)
-- never as a second copy.

:class:`BufferedWriter` writes batches to a store; when the store raises
:class:`UnavailableError` the batch goes to the spool instead and the writer stops trying the
store for ``retry_interval`` seconds, then replays the spool before writing anything new, so
order is preserved and nothing is held in memory.

Idempotence: an event whose identical copy (same ``event.id``, same content) is already in the
spool is not spooled again -- a second run over the same input while the store is still down
adds nothing. The writer counts it as buffered while that copy waits, and as a duplicate once
the copy was delivered. An event with a spooled id but *other* content is spooled (the store
sees both and reports the collision); it is never dropped.

A spool that cannot be written (read-only, disk full) while the store is down raises
:class:`SpoolError`: the batch can be neither delivered nor kept, and the caller must stop and
say so (the CLI prints the counts so far).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detect.stores.base import EventStore, WriteResult
from tulou.errors import UnavailableError
from tulou.events import Event


class SpoolError(UnavailableError):
    """The store is unreachable and the spool cannot be written either."""


def _line(event: Event) -> str:
    return json.dumps(event, ensure_ascii=False)


def content_digest(event: Event) -> bytes:
    """Digest of an event's content (key order ignored), to tell a copy from a collision."""
    text = json.dumps(event, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


class Spool:
    """Segments of buffered events in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seq = 0
        #: event id -> content digest of every spooled event, by segment (built on first use).
        self._index: dict[str, bytes] | None = None
        self._by_segment: dict[str, list[str]] = {}

    def append(self, run: str, events: Sequence[Event]) -> Path:
        """Write ``events`` as one durable segment; :class:`SpoolError` if it cannot be."""
        self._seq += 1
        name = f"{time.time_ns():020d}-{run}-{self._seq:06d}.ndjson"
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as handle:
                for event in events:
                    handle.write(_line(event) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            temporary.rename(final)
        except OSError as exc:
            if temporary.parent.is_dir():
                temporary.unlink(missing_ok=True)
            raise SpoolError(
                f"cannot write the spool {self.directory}: {exc.strerror or exc}"
            ) from exc
        if self._index is not None:
            ids = [str(event.get("event.id")) for event in events]
            for event_id, event in zip(ids, events, strict=True):
                self._index[event_id] = content_digest(event)
            self._by_segment[final.name] = ids
        return final

    def index(self) -> dict[str, bytes]:
        """``event.id`` -> content digest of every event in the spool (read once, then kept)."""
        if self._index is None:
            self._index = {}
            for segment in self.segments():
                ids = []
                for event in self.read(segment):
                    event_id = str(event.get("event.id"))
                    self._index[event_id] = content_digest(event)
                    ids.append(event_id)
                self._by_segment[segment.name] = ids
        return self._index

    def delete(self, segment: Path) -> None:
        """Remove a delivered segment (and its events from the index)."""
        segment.unlink()
        ids = self._by_segment.pop(segment.name, ())
        if self._index is not None:
            for event_id in ids:
                self._index.pop(event_id, None)

    def segments(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.ndjson"))

    def pending(self, run: str | None = None) -> int:
        """How many events are buffered (by the given run only, if one is named)."""
        total = 0
        for segment in self.segments():
            if run is not None and self.run_of(segment) != run:
                continue
            with segment.open("rb") as handle:
                total += sum(1 for _ in handle)
        return total

    @staticmethod
    def read(segment: Path) -> list[Event]:
        text = segment.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]

    @staticmethod
    def run_of(segment: Path) -> str:
        return segment.name.split("-")[1]


@dataclass
class Delivery:
    """Counts of one run: this run's events, and older runs' events replayed from the spool."""

    result: WriteResult = field(default_factory=WriteResult)
    replayed: WriteResult = field(default_factory=WriteResult)
    spooled_batches: int = 0


class BufferedWriter:
    """Writes to a store, spooling to disk while it is unreachable (see the module docstring)."""

    def __init__(
        self,
        store: EventStore,
        spool: Spool,
        *,
        retry_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.spool = spool
        self.retry_interval = retry_interval
        self.clock = clock
        self.run = uuid.uuid4().hex[:12]
        self.delivery = Delivery()
        self._down_until = 0.0
        self.last_error: str | None = None
        #: This run's events not spooled because an identical copy already was (id, digest).
        self._deferred: list[tuple[str, bytes]] = []

    def _count(self, segment_run: str, result: WriteResult) -> None:
        target = self.delivery.result if segment_run == self.run else self.delivery.replayed
        target.add(result)

    def _store_up(self) -> bool:
        return self.clock() >= self._down_until

    def _mark_down(self, exc: UnavailableError) -> None:
        self.last_error = exc.message
        self._down_until = self.clock() + self.retry_interval

    def replay(self) -> bool:
        """Send buffered segments to the store; True when the spool is empty."""
        for segment in self.spool.segments():
            if not self._store_up():
                return False
            try:
                result = self.store.write(self.spool.read(segment))
            except UnavailableError as exc:
                self._mark_down(exc)
                return False
            self._count(self.spool.run_of(segment), result)
            self.spool.delete(segment)
        return True

    def write(self, events: Sequence[Event]) -> None:
        """Deliver a batch now, or buffer it; never raises for an unreachable store."""
        if not events:
            return
        if self._store_up() and self.replay():
            try:
                self.delivery.result.add(self.store.write(events))
                return
            except UnavailableError as exc:
                self._mark_down(exc)
        index = self.spool.index()
        fresh: list[Event] = []
        for event in events:
            event_id, digest = str(event.get("event.id")), content_digest(event)
            if index.get(event_id) == digest:
                self._deferred.append((event_id, digest))  # already waiting in the spool
            else:
                fresh.append(event)
        if fresh:
            self.spool.append(self.run, fresh)
            self.delivery.spooled_batches += 1

    def drain(self, timeout: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Keep replaying until the spool is empty or ``timeout`` seconds passed."""
        deadline = self.clock() + timeout
        try:
            while True:
                if self._store_up() and self.replay():
                    return True
                now = self.clock()
                if now >= deadline:
                    return False
                sleep(max(0.05, min(self._down_until - now, deadline - now)))
        finally:
            self._settle_deferred()

    def _settle_deferred(self) -> None:
        """Deferred events whose spooled copy was delivered meanwhile are duplicates."""
        if not self._deferred:
            return
        index = self.spool.index()
        waiting = [(i, d) for i, d in self._deferred if index.get(i) == d]
        self.delivery.result.duplicates += len(self._deferred) - len(waiting)
        self._deferred = waiting

    def buffered(self) -> int:
        """Events of this run still in the spool (its own segments, and events whose
        identical copy an earlier run spooled)."""
        return self.spool.pending(self.run) + len(self._deferred)

    def take_rejected(self) -> tuple[list[tuple[Event, str]], list[tuple[Event, str]]]:
        """Events the store refused since the last call: (this run's, older runs')."""
        current, older = self.delivery.result.rejected, self.delivery.replayed.rejected
        self.delivery.result.rejected = []
        self.delivery.replayed.rejected = []
        return current, older
