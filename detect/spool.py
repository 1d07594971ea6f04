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
"""

from __future__ import annotations

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


class Spool:
    """Segments of buffered events in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seq = 0

    def append(self, run: str, events: Sequence[Event]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{time.time_ns():020d}-{run}-{self._seq:06d}.ndjson"
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        with temporary.open("w", encoding="utf-8") as handle:
            for event in events:
                handle.write(json.dumps(event, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(final)
        return final

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
            segment.unlink()
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
        self.spool.append(self.run, events)
        self.delivery.spooled_batches += 1

    def drain(self, timeout: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Keep replaying until the spool is empty or ``timeout`` seconds passed."""
        deadline = self.clock() + timeout
        while True:
            if self._store_up() and self.replay():
                return True
            now = self.clock()
            if now >= deadline:
                return False
            sleep(max(0.05, min(self._down_until - now, deadline - now)))

    def buffered(self) -> int:
        """Events of this run still in the spool."""
        return self.spool.pending(self.run)

    def take_rejected(self) -> tuple[list[tuple[Event, str]], list[tuple[Event, str]]]:
        """Events the store refused since the last call: (this run's, older runs')."""
        current, older = self.delivery.result.rejected, self.delivery.replayed.rejected
        self.delivery.result.rejected = []
        self.delivery.replayed.rejected = []
        return current, older
