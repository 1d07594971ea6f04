from __future__ import annotations

import gc
import os
import pickle  # noqa: TID251 - our own objects, as the process pool hands them over
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from detect.spool import BufferedWriter, Spool
from detect.stores.base import Query
from detect.stores.sqlite import SQLiteStore
from detect.stores.sqlite_batch import EncodedBatch, encode_batch
from detect.stores.sqlite_staging import (
    StagedBatch,
    directory_for,
    stage_batch,
    staging_root,
)
from tests.unit.detect.stores.store_conformance import make
from tests.unit.detect.stores.test_sqlite_batch import batches


def everything(store: SQLiteStore) -> list[Any]:
    """All a reader can see: rows (every column), documents, shapes, fields, search."""
    return [
        [tuple(r.values()) for r in store.query("SELECT * FROM events ORDER BY rowid")],
        store.query("SELECT rowid, doc FROM documents ORDER BY rowid"),
        store.query("SELECT * FROM shapes ORDER BY id"),
        store.query("SELECT * FROM fields ORDER BY name"),
        store.search(Query(limit=1000)),
        store.count(),
    ]


def staged(directory: Path, events: list[dict[str, Any]]) -> Any:
    """Stage as a worker does (min_rows=1: every batch with a row), through pickle."""
    return pickle.loads(pickle.dumps(stage_batch(str(directory), events, min_rows=1)))


def leftovers(directory: Path) -> list[Path]:
    """Staging files (``<32 hex digits>.db``) still in ``directory``."""
    return [p for p in directory.iterdir() if p.suffix == ".db" and len(p.stem) == 32]


def primer() -> list[dict[str, Any]]:
    """Events giving every name the tests use a column of a fixed affinity."""
    names = {"user.name": "a", "source.port": 1, "tags": "t", "x": "s", "event.kind": "k"}
    return [make(1000 + i, **names) for i in range(3)]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=batches(), second=batches())
def test_staged_batches_store_what_plain_batches_store(
    tmp_path: Path, first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    directory = Path(os.path.join(tmp_path, os.urandom(6).hex()))
    directory.mkdir()
    plain = SQLiteStore(directory / "plain.db")
    other = SQLiteStore(directory / "staged.db")
    try:
        for batch in (primer(), first, second, first):  # later ones meet known ids and names
            expected = plain.write(batch)
            got = other.write(staged(directory, batch))
            assert (got.stored, got.duplicates) == (expected.stored, expected.duplicates)
            assert got.rejected == expected.rejected
        assert everything(other) == everything(plain)
        assert leftovers(directory) == []
    finally:
        plain.close()
        other.close()


def test_a_staged_batch_is_copied_from_its_file_which_is_then_removed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    plain = SQLiteStore(tmp_path / "p.db")
    events = [make(i, **{"num": i, "t": [f"v{i}"], "b": i % 2 == 0}) for i in range(100)]
    # known ids with other content (90-99, 7) and a repeat with other content (150): collisions
    later = [*[make(i, num=-i) for i in range(90, 200)], make(150), make(7), make(120, num=-120)]
    for batch in (events, later):
        plain.write(batch)
    store.write(events)  # new names: columns are added by the row path
    batch = staged(tmp_path, later)
    assert isinstance(batch, StagedBatch) and Path(batch.path).exists()
    result = store.write(batch)
    assert batch.loaded is None  # copied by the statement, never read back as rows
    assert not Path(batch.path).exists()
    assert (result.stored, result.duplicates, result.collisions) == (100, 1, 12)
    assert everything(store) == everything(plain)
    store.close()
    plain.close()


def test_a_batch_needing_new_columns_or_re_encoding_takes_the_row_path(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    plain = SQLiteStore(tmp_path / "p.db")
    first = [make(i, num=i) for i in range(10)]  # "num" gets a NUMERIC column
    second = [make(i, num=f"text{i}", fresh=True) for i in range(10, 20)]  # new name, text in num
    for batch in (first, second):
        expected = plain.write(batch)
        got = store.write(staged(tmp_path, batch))
        assert (got.stored, got.duplicates) == (expected.stored, expected.duplicates)
    assert everything(store) == everything(plain)
    assert leftovers(tmp_path) == []
    store.close()
    plain.close()


def test_a_staged_batch_is_the_sequence_of_its_events(tmp_path: Path) -> None:
    events = [make(i % 40, k=[i, "x"], m={"a": i}) for i in range(100)] + [
        make(5) | {"@timestamp": 3}
    ]
    batch = staged(tmp_path, events)
    assert isinstance(batch, StagedBatch)
    assert list(batch) == list(encode_batch(events))
    assert len(batch) == len(events)
    assert isinstance(batch.loaded, EncodedBatch) and not Path(batch.path).exists()


def test_integers_beyond_64_bits_or_small_batches_stay_rows(tmp_path: Path) -> None:
    big = stage_batch(str(tmp_path), [make(0, num=2**70), make(1)], min_rows=1)
    small = stage_batch(str(tmp_path), [make(0), make(1)], min_rows=3)
    assert isinstance(big, EncodedBatch) and isinstance(small, EncodedBatch)
    assert list(tmp_path.iterdir()) == []  # no file left behind


def test_what_is_spooled_while_the_store_is_down_replays_the_same_events(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = SQLiteStore(path)
    store.write(primer())
    store.db.execute("PRAGMA busy_timeout = 0")
    events = [make(i, **{"user.name": f"u{i}", "tags": ["a"]}) for i in range(50)]
    batch = staged(tmp_path, events)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the store is unavailable
    writer = BufferedWriter(store, Spool(tmp_path / "spool"), retry_interval=0.0)
    writer.write(batch)
    assert writer.buffered() == 50  # spooled as events, read back from the staging file
    assert leftovers(tmp_path) == []
    locker.execute("ROLLBACK")
    locker.close()
    assert writer.drain(1.0)
    assert store.count() == 53
    got = {e["event.id"]: e for e in store.by_ids([e["event.id"] for e in events])}
    assert got == {e["event.id"]: e for e in events}
    store.close()


def test_staging_directories_are_private_removed_on_close_and_leftovers_on_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "e.db"
    store = SQLiteStore(path)
    store.batch_encoder()
    own = next(staging_root(str(path)).iterdir())
    assert own.stat().st_mode & 0o777 == 0o700
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    crashed = staging_root(str(path)) / f"{dead.stdout.strip()}-abc"
    crashed.mkdir()
    (crashed / "x.db").write_bytes(b"left over")
    store.close()
    assert not own.exists()
    assert crashed.exists()  # a store closing removes only its own
    again = SQLiteStore(path)
    assert not crashed.exists()  # opening removes what a finished process left
    running = directory_for(str(path))  # this process's: kept
    SQLiteStore(path).close()
    assert running.exists()
    again.close()
    running.rmdir()
    last = SQLiteStore(path)
    last.batch_encoder()
    last.close()
    assert not staging_root(str(path)).exists()  # the last one out removes the root too


def test_a_store_dropped_without_close_still_removes_its_staging_directory(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    store.batch_encoder()
    own = next(staging_root(str(tmp_path / "e.db")).iterdir())
    store.db.close()  # the connection only; the store object is then dropped
    del store
    gc.collect()
    assert not own.exists()
