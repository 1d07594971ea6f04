"""The ingest pipeline: inputs -> parser -> batches -> store (or spool), with exact accounting.

For every run::

    read == stored + duplicates + collisions + dead_lettered + buffered

``read`` counts records (a line, a joined auditd record, an EVTX record, an event derived from
a capture); ``duplicates`` are events the store already held with the same id *and* the same
content (a re-ingest); ``collisions`` are events whose id the store held with *different*
content, stored under a derived id (:mod:`detect.stores.base`) -- never dropped, and never
expected on distinct inputs (docs/detect.md, "Input identity"); ``dead_lettered`` counts
records a parser or the store rejected (each is in the dead-letter file); ``buffered`` counts
events still in the on-disk spool because the store was unreachable until the end of the run
(they are delivered by the next run or ``replay``). Events of earlier runs replayed from the
spool are reported separately (``replayed``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from detect.deadletter import DeadLetterFile
from detect.model import FIRST_LINE, Rejected, Source, source_for
from detect.parse_worker import ParseWorker, chunkable, worth_it
from detect.parsers import SNIFF_BYTES, Parser, ParserRegistry
from detect.spool import BufferedWriter
from detect.stores.base import EncodesBatches, LoadsInBulk
from tulou.errors import InputError
from tulou.events import Event

type Progress = Callable[[int], None]


@dataclass
class IngestSummary:
    """The counts of one run (see the module docstring)."""

    read: int = 0
    stored: int = 0
    duplicates: int = 0
    collisions: int = 0
    dead_lettered: int = 0
    buffered: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    replayed: dict[str, int] = field(default_factory=dict)

    def reconciles(self) -> bool:
        return self.read == (
            self.stored + self.duplicates + self.collisions + self.dead_lettered + self.buffered
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "collisions": self.collisions,
            "dead_lettered": self.dead_lettered,
            "buffered": self.buffered,
            "reconciles": self.reconciles(),
            "files": self.files,
            "replayed": self.replayed,
        }


class Ingestor:
    """Feeds parsed records to a :class:`BufferedWriter` in batches and keeps the counts."""

    def __init__(
        self,
        writer: BufferedWriter,
        dead_letters: DeadLetterFile,
        *,
        batch_size: int = 2000,
        parse_worker: bool | None = None,
        workers: int = 2,
    ) -> None:
        """``parse_worker``: parse line formats in ``workers`` worker processes
        (:mod:`detect.parse_worker`) -- ``None`` decides per input (large inputs only),
        ``False`` never, ``True`` always. When the store can have batches encoded elsewhere
        (:class:`EncodesBatches`), the workers encode them too. Two workers by default: with
        SQLite the workers' parsing and encoding costs more CPU than the writer's inserts,
        so one worker leaves the writer waiting (measured on 2 cores: docs/performance.md)."""
        self.writer = writer
        self.parse_worker = parse_worker
        self._worker = ParseWorker(workers)
        self.dead_letters = dead_letters
        self.batch_size = batch_size
        self.read = 0
        self.parse_rejected = 0
        self.store_rejected = 0
        self.files: list[dict[str, Any]] = []

    def _dead(self, source: Source, parser_id: str, item: Rejected) -> None:
        self.dead_letters.write(
            source=source.name,
            position=item.position,
            reason=item.reason,
            original=item.original,
            parser=parser_id,
        )
        self.parse_rejected += 1

    def _flush(self, batch: list[Event]) -> None:
        self._deliver(batch)
        batch.clear()

    def _deliver(self, batch: Sequence[Event]) -> None:
        self.writer.write(batch)
        current, older = self.writer.take_rejected()
        for event, reason in current + older:
            offset = event.get("log.offset")
            self.dead_letters.write(
                source=str(event.get("log.file.path", "")),
                position=offset if isinstance(offset, int) else str(event.get("event.id", "")),
                reason=f"store refused the event: {reason}",
                original=str(event.get("event.original", "")),
                parser=str(event.get("event.dataset", "")),
                stage="store",
            )
        self.store_rejected += len(current)

    def ingest_stream(
        self, stream: BinaryIO, source: Source, parser: Parser, progress: Progress | None = None
    ) -> int:
        """Parse and deliver one stream; returns how many records it held.

        A store that :class:`LoadsInBulk` is told the stream is one load (it decides whether
        that is worth postponing its index work, see :meth:`SQLiteStore.bulk
        <detect.stores.sqlite.SQLiteStore.bulk>`).
        """
        store = self.writer.store
        if isinstance(store, LoadsInBulk):
            with store.bulk():
                return self._ingest_stream(stream, source, parser, progress)
        return self._ingest_stream(stream, source, parser, progress)

    def _ingest_stream(
        self, stream: BinaryIO, source: Source, parser: Parser, progress: Progress | None
    ) -> int:
        batch: list[Event] = []
        records = 0
        if self.parse_worker is None:
            parallel = worth_it(stream, parser)
        else:
            parallel = self.parse_worker and chunkable(parser)
        store = self.writer.store
        if parallel and isinstance(store, EncodesBatches):
            records = self._ingest_encoded(stream, source, parser, store, progress)
            self.read += records
            return records
        items: Iterator[Event | Rejected] = (
            self._worker.parse(stream, source, parser) if parallel else parser.parse(stream, source)
        )
        for item in items:
            records += 1
            if isinstance(item, Rejected):
                self._dead(source, parser.id, item)
            else:
                batch.append(item)
                if len(batch) >= self.batch_size:
                    self._flush(batch)
                    if progress is not None:
                        progress(stream.tell())
        self._flush(batch)
        self.read += records
        return records

    def _ingest_encoded(
        self,
        stream: BinaryIO,
        source: Source,
        parser: Parser,
        store: EncodesBatches,
        progress: Progress | None,
    ) -> int:
        """The worker parses and encodes; this process dead-letters and delivers."""
        records = 0
        encode = store.batch_encoder()
        for chunk in self._worker.parse_batches(stream, source, parser, encode, self.batch_size):
            records += chunk.records
            for item in chunk.rejected:
                self._dead(source, parser.id, item)
            for batch in chunk.batches:
                self._deliver(batch)
            if progress is not None:
                progress(stream.tell())
        self._deliver([])
        return records

    def ingest_path(
        self,
        path: Path,
        registry: ParserRegistry,
        parser_id: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Ingest one file, its format given or detected from its first bytes."""
        try:
            with path.open("rb") as stream:
                head = stream.read(SNIFF_BYTES)
                stream.seek(0)
                parser = registry.get(parser_id) if parser_id else registry.detect(head)
                # The parser says how its inputs are named (detect.model: first line or the
                # whole file).
                source = source_for(path, identity=getattr(parser, "identity", FIRST_LINE))
                records = self.ingest_stream(stream, source, parser, progress)
        except IsADirectoryError as exc:
            raise InputError(f"{path} is a directory", location=str(path)) from exc
        except OSError as exc:
            raise InputError(
                f"cannot read {path}: {exc.strerror or exc}", location=str(path)
            ) from exc
        info = {"path": str(path), "format": parser.id, "records": records}
        self.files.append(info)
        return info

    def finish(self, drain_timeout: float = 0.0) -> IngestSummary:
        """Replay what is buffered (waiting up to ``drain_timeout`` s) and return the counts."""
        self._worker.close()
        self.writer.drain(drain_timeout)
        self._flush([])
        delivery = self.writer.delivery
        replayed = delivery.replayed
        return IngestSummary(
            read=self.read,
            stored=delivery.result.stored,
            duplicates=delivery.result.duplicates,
            collisions=delivery.result.collisions,
            dead_lettered=self.parse_rejected + self.store_rejected,
            buffered=self.writer.buffered(),
            files=self.files,
            replayed={
                "stored": replayed.stored,
                "duplicates": replayed.duplicates,
                "collisions": replayed.collisions,
            },
        )
