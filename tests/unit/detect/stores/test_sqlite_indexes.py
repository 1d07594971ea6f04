from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detect.stores import sqlite_indexes
from detect.stores.base import LoadsInBulk, Query
from detect.stores.sqlite import SQLiteStore
from tests.unit.detect.stores.store_conformance import make


def events(start: int, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        make(n, **{"user.name": f"u{n % 7}", "source.ip": f"10.0.0.{n % 5}", **extra})
        for n in range(start, start + count)
    ]


def indexes(store: SQLiteStore) -> dict[str, str]:
    rows = store.query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql NOT NULL")
    return {r["name"]: r["sql"] for r in rows}


QUERIES = [
    Query(limit=1000),
    Query({"user.name": "U3"}, limit=1000),
    Query({"source.ip": ["10.0.0.1", "10.0.0.4"], "host.name": "h*"}, limit=1000),
]


@pytest.fixture
def small_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("detect.stores.sqlite.BULK_MIN_ROWS", 20)


def test_a_bulk_load_sets_indexes_aside_and_rebuilds_them(tmp_path: Path, small_bulk: None) -> None:
    plain = SQLiteStore(tmp_path / "plain.db")
    bulk = SQLiteStore(tmp_path / "bulk.db")
    assert isinstance(bulk, LoadsInBulk)
    batches = [events(0, 15), events(15, 15), events(30, 15, **{"host.name": "h1"})]
    for batch in batches:
        plain.write(batch)
    with bulk.bulk():
        bulk.write(batches[0])
        assert sqlite_indexes.pending(bulk.db) == []  # 15 rows: below the threshold
        bulk.write(batches[1])
        aside = sqlite_indexes.pending(bulk.db)
        assert "events_user.name" in aside
        assert "events_event.id" not in aside and "events_event.id" in indexes(bulk)
        assert set(indexes(bulk)) == {"events_event.id"}
        # a new indexed field meanwhile: its index is recorded, not built row by row
        bulk.write(batches[2])
        assert "events_host.name" in sqlite_indexes.pending(bulk.db)
        assert bulk.write(batches[2]).duplicates == 15  # the unique index still decides
        for query in QUERIES:
            assert bulk.search(query) == plain.search(query)
    assert sqlite_indexes.pending(bulk.db) == []
    assert indexes(bulk) == indexes(plain)
    for query in QUERIES:
        assert bulk.search(query) == plain.search(query)
        assert bulk.count(query) == plain.count(query)
    plain.close()
    bulk.close()


def test_a_bulk_load_smaller_than_the_store_keeps_the_indexes(
    tmp_path: Path, small_bulk: None
) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    store.write(events(0, 100))
    before = indexes(store)
    with store.bulk():
        store.write(events(100, 60))  # 60 < 100 rows already there
        assert sqlite_indexes.pending(store.db) == []
        assert indexes(store) == before
    store.close()


DIES_INSIDE_A_BULK_LOAD = """
import os, sys
from detect.stores import sqlite_indexes
from detect.stores.sqlite import SQLiteStore
from tests.unit.detect.stores.test_sqlite_indexes import events
store = SQLiteStore(sys.argv[1])
with store.bulk():
    store.write(events(5, 30))
    print(sqlite_indexes.pending(store.db), flush=True)
    os._exit(0)  # the process dies: the block never ends
"""


def test_indexes_set_aside_by_a_load_that_died_are_rebuilt_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    store.write(events(0, 5))  # 30 rows written will be past the threshold (max(5, 20))
    before = indexes(store)
    store.close()
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[4]))
    code = "import detect.stores.sqlite as s; s.BULK_MIN_ROWS = 20\n" + DIES_INSIDE_A_BULK_LOAD
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "e.db")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "events_user.name" in out.stdout  # it had set them aside
    reopened = SQLiteStore(tmp_path / "e.db")
    assert indexes(reopened) == before
    assert sqlite_indexes.pending(reopened.db) == []
    assert reopened.count() == 35
    reopened.close()


def test_an_index_another_process_rebuilt_meanwhile_is_kept(
    tmp_path: Path, small_bulk: None
) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    with store.bulk():
        store.write(events(0, 30))
        assert "events_user.name" in sqlite_indexes.pending(store.db)
        other = SQLiteStore(tmp_path / "e.db")  # a reader opening now rebuilds them
        assert "events_user.name" in indexes(other)
        other.ensure_index("process.name")
        other.close()
        store.write(events(30, 30))
    assert {"events_user.name", "events_process.name"} <= set(indexes(store))
    assert sqlite_indexes.pending(store.db) == []
    store.close()


def test_a_store_opens_while_its_recorded_indexes_cannot_be_rebuilt_yet(
    tmp_path: Path, small_bulk: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    load = store.bulk()
    load.__enter__()
    store.write(events(0, 30))  # set aside, still recorded
    assert sqlite_indexes.pending(store.db)

    def locked(db: object) -> list[str]:
        raise sqlite3.OperationalError("database is locked")  # a writer holds it too long

    with monkeypatch.context() as patch:
        patch.setattr("detect.stores.sqlite_indexes.rebuild", locked)
        other = SQLiteStore(tmp_path / "e.db")
        assert other.count() == 30
        assert sqlite_indexes.pending(other.db)  # the records stay for later
        other.close()
    load.__exit__(None, None, None)  # the load's end rebuilds them
    assert sqlite_indexes.pending(store.db) == []
    assert "events_user.name" in indexes(store)
    store.close()
