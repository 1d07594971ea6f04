from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from detect.stores.sqlite import SQLiteStore
from detect.stores.sqlite_checkpoint import BackgroundCheckpointer
from tests.unit.detect.stores.store_conformance import make


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_thread_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # only the thread checkpoints
    db.execute("CREATE TABLE t (x TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 2000)
    size = path.stat().st_size
    checkpointer = BackgroundCheckpointer(str(path), interval=0.01)
    checkpointer.start()
    wait_for(lambda: path.stat().st_size > size + 500 * 1000)
    checkpointer.stop()
    assert checkpointer.checkpoints >= 1
    assert checkpointer.error is None
    assert not checkpointer._thread.is_alive()
    # nothing left to copy: every frame of the WAL is in the database file
    ((busy, frames, copied),) = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    assert (busy, frames) == (0, copied)
    db.close()


def test_a_bulk_load_checkpoints_in_the_background_then_hands_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("detect.stores.sqlite.BULK_MIN_ROWS", 10)
    monkeypatch.setattr("detect.stores.sqlite_checkpoint.INTERVAL", 0.01)
    store = SQLiteStore(tmp_path / "e.db")
    with store.bulk():
        store.write([make(n) for n in range(5)])
        assert store._bulk is not None and store._bulk.checkpointer is None  # below 10 rows
        store.write([make(n) for n in range(5, 40)])
        checkpointer = store._bulk.checkpointer
        assert checkpointer is not None
        assert store.query("PRAGMA wal_autocheckpoint") == [{"wal_autocheckpoint": 0}]
        wait_for(lambda: checkpointer.checkpoints >= 2)
        assert store.count() == 40
    assert not checkpointer._thread.is_alive() and checkpointer.error is None
    assert store.query("PRAGMA wal_autocheckpoint") == [{"wal_autocheckpoint": 1000}]
    store.close()
    assert SQLiteStore(tmp_path / "e.db").count() == 40


def test_an_in_memory_store_has_no_wal_to_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("detect.stores.sqlite.BULK_MIN_ROWS", 1)
    store = SQLiteStore(":memory:")
    with store.bulk():
        store.write([make(n) for n in range(3)])
        assert store._bulk is not None and store._bulk.checkpointer is None
    assert store.count() == 3
    store.close()
