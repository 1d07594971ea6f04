from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.model import Rejected, Source
from detect.parse_worker import ParseWorker, chunkable, chunks, worth_it
from detect.parsers.auditd import AuditdParser
from detect.parsers.auth import AuthLogParser
from detect.spool import BufferedWriter, Spool
from detect.stores.base import Query
from detect.stores.memory import MemoryStore
from detect.stores.sqlite import SQLiteStore

SOURCE = Source(name="auth.log", identity="worker-test", offset=100)


def auth_lines(count: int) -> bytes:
    lines = []
    for i in range(count):
        if i % 7 == 3:
            lines.append(b"\xff garbage that is no syslog line")
        elif i % 11 == 5:
            lines.append(b"   ")
        else:
            lines.append(
                f"Mar  1 10:{i // 60 % 60:02d}:{i % 60:02d} h{i % 3} sshd[{i}]: Failed password "
                f"for u{i} from 10.0.{i % 250}.1 port {1000 + i} ssh2".encode()
            )
    return b"\n".join(lines)  # the last line has no newline


@pytest.mark.parametrize("size", [1, 17, 64, 1 << 20])
@pytest.mark.parametrize("first", [None, 1, 200])
def test_chunks_cover_the_stream_at_line_ends(size: int, first: int | None) -> None:
    data = auth_lines(50)
    pieces = list(chunks(io.BytesIO(data), size, first))
    assert b"".join(p for _, p in pieces) == data
    offset = 0
    for start, piece in pieces:
        assert start == offset
        offset += len(piece)
    assert all(p.endswith(b"\n") for _, p in pieces[:-1])


def test_chunks_start_small_and_grow_to_their_size() -> None:
    data = auth_lines(2000)  # ~145 kB, lines of ~72 bytes
    sizes = [len(p) for _, p in chunks(io.BytesIO(data), 40_000, 1_000)]
    assert sizes[0] < 1_200 and 3_900 < sizes[1] < 4_200 and 15_900 < sizes[2] < 16_200
    assert all(39_900 < s < 40_200 for s in sizes[3:-2])  # then the rest of the input


def test_only_plain_line_parsers_are_chunkable() -> None:
    assert chunkable(AuthLogParser())
    assert not chunkable(AuditdParser())  # joins the lines of one record
    assert not worth_it(io.BytesIO(auth_lines(10)), AuthLogParser())  # too small


def test_the_worker_yields_what_the_parser_yields(monkeypatch: pytest.MonkeyPatch) -> None:
    data = auth_lines(400)
    parser = AuthLogParser(year=2026)
    serial = list(parser.parse(io.BytesIO(data), SOURCE))
    worker = ParseWorker()
    try:
        # tiny chunks: many of them, more than the read-ahead
        monkeypatch.setattr("detect.parse_worker.CHUNK_BYTES", 512)
        parallel = list(worker.parse(io.BytesIO(data), SOURCE, parser))
    finally:
        worker.close()
    assert parallel == serial
    assert any(isinstance(item, Rejected) for item in parallel)


def test_ingest_with_the_worker_stores_and_counts_the_same(tmp_path: Path) -> None:
    data = auth_lines(300)
    results = []
    for use in (False, True):
        store = MemoryStore()
        dead = DeadLetterFile(tmp_path / f"dead-{use}.ndjson")
        ingestor = Ingestor(
            BufferedWriter(store, Spool(tmp_path / f"spool-{use}")),
            dead,
            batch_size=50,
            parse_worker=use,
        )
        ingestor.ingest_stream(io.BytesIO(data), SOURCE, AuthLogParser(year=2026))
        summary = ingestor.finish()
        assert summary.reconciles()
        results.append((summary.as_dict(), store.events, dead.count))
        dead.close()
    assert results[0] == results[1]


def test_workers_that_encode_for_sqlite_store_the_same_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = auth_lines(700)
    monkeypatch.setattr("detect.parse_worker.CHUNK_BYTES", 4096)  # batches end at chunk ends
    monkeypatch.setattr("detect.stores.sqlite.BULK_MIN_ROWS", 100)  # indexes set aside too
    monkeypatch.setattr("detect.stores.sqlite_staging.MIN_ROWS", 1)  # rows via staging files
    seen = []
    for use, workers in ((False, 1), (True, 1), (True, 2)):
        store = SQLiteStore(tmp_path / f"{use}-{workers}.db")
        dead = DeadLetterFile(tmp_path / f"dead-{use}-{workers}.ndjson")
        ingestor = Ingestor(
            BufferedWriter(store, Spool(tmp_path / f"spool-{use}-{workers}")),
            dead,
            batch_size=30,
            parse_worker=use,
            workers=workers,
        )
        ingestor.ingest_stream(io.BytesIO(data), SOURCE, AuthLogParser(year=2026))
        # the second time every event is a duplicate: found by the unique index
        ingestor.ingest_stream(io.BytesIO(data), SOURCE, AuthLogParser(year=2026))
        summary = ingestor.finish()
        assert summary.reconciles()
        dead.close()
        staging = tmp_path / f".{use}-{workers}.db.staging"
        assert staging.is_dir() == use  # the workers staged the batches' rows
        assert [p for p in staging.rglob("*") if p.is_file()] == []  # every file removed
        rows = store.query("SELECT * FROM events ORDER BY rowid")
        docs = [store.query("SELECT * FROM shapes ORDER BY id"), store.search(Query(limit=9999))]
        indexes = store.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
        )
        assert len(indexes) == 8 and not store.query("SELECT * FROM deferred_indexes")
        text = (tmp_path / f"dead-{use}-{workers}.ndjson").read_text()
        letters = [{**json.loads(line), "time": None} for line in text.splitlines()]
        seen.append((summary.as_dict(), rows, docs, letters, indexes))
        store.close()
        assert [p for p in staging.rglob("*") if p.exists()] == []  # its directory too
    assert seen[0][0]["stored"] == 700 - 100 - 64 + 9  # garbage, blank lines (both: 9)
    assert seen[1] == seen[0]
    assert seen[2] == seen[0]
