"""Stores written before ids were bound to content: upgraded on open, re-ingest fills them.

An old store is built here the way the old scheme wrote it: ``event.id =
event_id(dataset:first-line identity, position)``, no ``event.hash``, and a second input
whose ids were already taken was not stored at all.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import evtx
import pytest

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.model import file_identity
from detect.parsers import default_registry
from detect.spool import BufferedWriter, Spool
from detect.stores.base import Query
from detect.stores.memory import MemoryStore
from detect.stores.sqlite import FORMAT, SQLiteStore
from tulou.events import Event, event_id


def _ingest(tmp_path: Path, store: Any, paths: list[Path]) -> Any:
    ingestor = Ingestor(
        BufferedWriter(store, Spool(tmp_path / "spool")), DeadLetterFile(tmp_path / "dead")
    )
    for path in paths:
        ingestor.ingest_path(path, default_registry())
    summary = ingestor.finish()
    ingestor.dead_letters.close()
    return summary


def parsed(tmp_path: Path, path: Path) -> list[Event]:
    store = MemoryStore()
    _ingest(tmp_path / "parse", store, [path])
    return sorted(store.events.values(), key=lambda e: e.get("log.offset", 0))


def legacy(event: Event, path: Path, position: str | None = None) -> Event:
    """The event as the old scheme stored it (``position``: the parser's, for non-lines)."""
    position = event.get("log.offset", position)
    old = {k: v for k, v in event.items() if k != "event.hash"}
    old["event.id"] = event_id(f"{event['event.dataset']}:{file_identity(path)}", position)
    return old


def old_store(path: Path, inputs: list[list[Event]]) -> int:
    """A format-2 store as the old code left it: later inputs lose the ids already taken.
    Returns how many events it holds."""
    store = SQLiteStore(path)
    taken: set[str] = set()
    for events in inputs:
        fresh = [e for e in events if e["event.id"] not in taken]
        taken.update(e["event.id"] for e in fresh)
        store.write(fresh)
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE legacy_ids")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    return len(taken)


def _exports(tmp_path: Path) -> list[Path]:
    head = json.dumps({"@timestamp": "2026-03-01T00:00:00Z", "message": "export"}) + "\n"
    files = []
    for n in range(3):
        rows = [
            json.dumps({"@timestamp": f"2026-03-01T00:00:0{k}Z", "export": n, "k": k}) + "\n"
            for k in range(1, 4)
        ]
        files.append(tmp_path / f"export{n}.json")
        files[-1].write_text(head + "".join(rows))
    return files


def test_an_old_store_is_upgraded_and_re_ingest_fills_exactly_the_missing_events(
    tmp_path: Path,
) -> None:
    files = _exports(tmp_path)  # same first line: the old scheme kept only the first file
    new = [parsed(tmp_path, f) for f in files]
    db = tmp_path / "old.db"
    held = old_store(
        db, [[legacy(e, f) for e in events] for f, events in zip(files, new, strict=True)]
    )
    assert held == 4  # file 0's four lines; files 1 and 2 were dropped as "duplicates"
    store = SQLiteStore(db)
    assert store.query("PRAGMA user_version") == [{"user_version": FORMAT}]
    # Upgraded in place: the stored events are now exactly what the parser makes today.
    assert sorted(map(json.dumps, store.search(Query(limit=100)))) == sorted(
        map(json.dumps, new[0])
    )
    # An alert that named an old id still finds its event.
    old_ids = [legacy(e, files[0])["event.id"] for e in new[0]]
    assert {e["event.id"] for e in store.by_ids(old_ids)} == {e["event.id"] for e in new[0]}
    summary = _ingest(tmp_path, store, files)
    assert (summary.read, summary.stored, summary.duplicates, summary.collisions) == (12, 6, 6, 0)
    # Duplicates: file 0's four lines, and the head line of files 1 and 2 (the same bytes at
    # the same place after the same first line: the same content). Stored: the other rows.
    assert store.count() == 10
    store.close()


def test_the_upgrade_keeps_format_1_documents_readable(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"Mar  3 10:00:01 web1 app[1]: one\nMar  3 10:00:02 web1 app[1]: two\n")
    events = parsed(tmp_path, log)
    old = [legacy(e, log) for e in events]
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        """
        CREATE TABLE events (rowid INTEGER PRIMARY KEY, "event.id" TEXT NOT NULL COLLATE BINARY,
            "@timestamp" TEXT NOT NULL COLLATE NOCASE, "event.dataset" TEXT COLLATE NOCASE,
            "event.original" TEXT COLLATE NOCASE);
        CREATE UNIQUE INDEX "events_event.id" ON events ("event.id");
        CREATE TABLE documents (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
        CREATE TABLE fields (name TEXT PRIMARY KEY, affinity TEXT NOT NULL,
            has_column INTEGER NOT NULL);
        INSERT INTO fields VALUES ('event.id', 'TEXT', 1), ('@timestamp', 'TEXT', 1),
            ('event.dataset', 'TEXT', 1), ('event.original', 'TEXT', 1);
        """
    )
    for rowid, event in enumerate(old, 1):
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (
                rowid,
                event["event.id"],
                event["@timestamp"],
                event["event.dataset"],
                event["event.original"],
            ),
        )
        db.execute("INSERT INTO documents VALUES (?, ?)", (rowid, json.dumps(event)))
    db.close()
    store = SQLiteStore(path)
    got = {e["event.id"]: e for e in store.search(Query())}
    assert set(got) == {e["event.id"] for e in events}
    for event in events:  # the document carries the new id and the hash (added at its end)
        assert got[event["event.id"]] == {**legacy(event, log), **event}
    summary = _ingest(tmp_path, store, [log])
    assert (summary.stored, summary.duplicates, summary.collisions) == (0, 2, 0)
    store.close()


def test_capture_events_keep_their_old_ids(tmp_path: Path) -> None:
    event = {
        "@timestamp": "2026-03-01T00:00:00.000Z",
        "event.id": "a" * 32,
        "event.dataset": "pcap",
        "event.original": "/x.pcap#packet=1",
    }
    path = tmp_path / "old.db"
    old_store(path, [[event]])
    store = SQLiteStore(path)
    assert store.search(Query()) == [event]  # not content-addressed: left as it was
    store.close()


@pytest.mark.corpus
def test_an_old_store_of_evtx_files_is_filled_by_re_ingest(
    shared_data: Path, tmp_path: Path
) -> None:
    files = sorted((shared_data / "evtx").glob("*.evtx"))
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(file_identity(f), []).append(f)
    shared = max(groups.values(), key=len)[:3]  # files the old scheme named alike
    assert len(shared) >= 2
    new = [parsed(tmp_path, f) for f in shared]
    # The EVTX parser's positions: the library's record numbers, in the order it yields them.
    positions = [
        [f"record:{r['event_record_id']}" for r in evtx.PyEvtxParser(str(f)).records()]
        for f in shared
    ]
    db = tmp_path / "old.db"
    held = old_store(
        db,
        [
            [legacy(e, f, p) for e, p in zip(events, at, strict=True)]
            for f, events, at in zip(shared, new, positions, strict=True)
        ],
    )
    total = sum(map(len, new))
    assert held < total  # the old scheme lost records
    store = SQLiteStore(db)
    summary = _ingest(tmp_path, store, shared)
    assert (summary.stored, summary.duplicates, summary.collisions) == (total - held, held, 0)
    assert store.count() == total
    store.close()
