"""Format 2 of the SQLite store: events rebuilt exactly from their rows (no JSON copy).

The round trip is checked on arbitrary ECS-like events, through both write paths (a plain
batch, and a batch encoded "in a parse worker" and pickled), and through every read path
(``search``, ``by_ids``, ``documents``); a format-1 store (one JSON document per event) is
upgraded in place and stays readable, old and new rows side by side.
"""

from __future__ import annotations

import json
import math
import pickle  # noqa: TID251 - our own objects, as the process pool hands them over
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detect.stores.base import Query, collision_id, content_digest
from detect.stores.sqlite import FORMAT, SQLiteStore
from detect.stores.sqlite_batch import encode_batch
from detect.stores.sqlite_shapes import conflicts, kinds_of
from tests.unit.detect.stores.store_conformance import make
from tulou.errors import UnavailableError

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 2**63]),
    st.floats(),
    TEXT,
    st.sampled_from(["12", "1e3", " 7", "true", "false", "[1]", '["a"]', "", "null"]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.lists(TEXT, min_size=1, max_size=1),
    st.lists(st.integers(-5, 5), min_size=1, max_size=1),
    st.dictionaries(TEXT, SCALARS, max_size=3),
)
# ECS names, case variants (one SQLite column), the internal columns' names, and any text.
NAMES = st.one_of(
    st.sampled_from(
        ["user.name", "User.Name", "source.port", "tags", "event.category", "message", "doc"]
    ),
    st.sampled_from(["_shape", "_rest", "_SHAPE", "rowid.x", "process.pid", 'a"b', "ü.x"]),
    # (SQL text cannot carry NUL: a field name with one gets no column, before and now)
    st.text(
        st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6
    ).filter(lambda name: name.lower() not in {"rowid", "event.id", "@timestamp"}),
)


def typed(value: Any) -> Any:
    """A value with its types and key order spelled out (NaN made comparable)."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for n in range(draw(st.integers(1, 10))):
        fields = draw(st.dictionaries(NAMES, VALUES, max_size=6))
        event = make(n + 100 * draw(st.integers(0, 3)))
        event.update(fields)
        keys = draw(st.permutations(list(event)))  # any key order
        out.append({key: event[key] for key in keys})
    return out


def read_back(store: SQLiteStore) -> list[list[Any]]:
    """Every event through search, by_ids and documents, typed, in rowid order."""
    found = {e["event.id"]: e for e in store.search(Query(limit=10_000))}
    rows = store.query('SELECT rowid, "event.id" FROM events ORDER BY rowid')
    by_rowid = store.documents(r["rowid"] for r in rows)
    by_id = {e["event.id"]: e for e in store.by_ids([r["event.id"] for r in rows])}
    out = []
    for row, event in zip(rows, by_rowid, strict=True):
        assert typed(found[row["event.id"]]) == typed(event) == typed(by_id[row["event.id"]])
        out.append(typed(event))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(events(), min_size=1, max_size=3))
def test_events_read_back_exactly_as_written(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[dict[str, Any]]]
) -> None:
    path = tmp_path_factory.mktemp("shapes")
    plain = SQLiteStore(path / "plain.db")
    worker = SQLiteStore(path / "worker.db")
    expected: dict[str, Any] = {}
    try:
        for batch in batches:  # later batches meet known columns (and their affinities)
            for event in batch:  # the contract: same id, other content -> its collision id
                ident = event["event.id"]
                if ident in expected and expected[ident][0] != content_digest(event):
                    ident = collision_id(ident, content_digest(event))
                if ident not in expected:
                    expected[ident] = (content_digest(event), typed({**event, "event.id": ident}))
            plain.write(batch)
            worker.write(pickle.loads(pickle.dumps(encode_batch(batch))))
        got = read_back(plain)
        assert sorted(got, key=repr) == sorted((t for _, t in expected.values()), key=repr)
        assert read_back(worker) == got
        assert plain.query("SELECT * FROM events") == worker.query("SELECT * FROM events")
    finally:
        plain.close()
        worker.close()


def test_an_encoded_batch_gives_back_its_events_exactly() -> None:
    event = make(0, **{"num": 1, "f": 1.0, "b": False, "l": ["x"], "L": [1], "none": None})
    (back,) = list(encode_batch([event]))
    assert typed(back) == typed(event)


def test_kinds() -> None:
    event = {"s": "x", "i": 3, "big": 2**63, "b": True, "n": None, "l": ["a"]}
    event |= {"li": [1], "ll": ["a", "b"], "f": 1.5, "d": {}}
    assert kinds_of(event) == "sirbnlrrrr"
    assert kinds_of(event, frozenset({"s", "n"})) == "rirbrlrrrr"


def test_conflicts_name_what_the_columns_cannot_give_back() -> None:
    fields = {"num": ("NUMERIC", True), "text": ("TEXT", True), "cut": ("TEXT", False)}
    used = {"num": "is", "text": "silb", "cut": "nr", "cut2": "s", "num2": "ib"}
    assert conflicts(used, {**fields, "cut2": ("TEXT", False), "num2": ("NUMERIC", True)}) == {
        "num",
        "cut2",
    }


def test_text_in_a_numeric_column_is_kept_exactly(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    store.write([make(0, **{"port": 22})])  # NUMERIC column
    odd = [make(1, **{"port": "22"}), make(2, **{"port": "0x16", "other": "1e3"})]
    store.write(pickle.loads(pickle.dumps(encode_batch(odd))))  # encoded without the columns
    assert [typed(e["port"]) for e in store.search(Query())] == [
        ("int", 22),
        ("str", "22"),
        ("str", "0x16"),
    ]
    # the column still holds what queries compare (SQLite converted the numeric-looking text)
    assert store.query('SELECT "port" FROM events ORDER BY rowid') == [
        {"port": 22},
        {"port": 22},
        {"port": "0x16"},
    ]
    assert store.count(Query({"port": 22})) == 2
    store.close()


def test_no_json_copy_per_event(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    store.write([make(n, **{"user.name": "u", "event.category": ["x"]}) for n in range(50)])
    assert store.query("SELECT count(*) AS n FROM documents") == [{"n": 0}]
    assert store.query("SELECT count(*) AS n FROM shapes") == [{"n": 1}]
    assert store.query('SELECT count(*) AS n FROM events WHERE "_rest" IS NOT NULL') == [{"n": 0}]
    assert store.query("PRAGMA user_version") == [{"user_version": FORMAT}]
    store.close()


def format_1_store(path: Path, events: list[dict[str, Any]]) -> None:
    """A store as format 1 wrote it: columns, and one JSON document per event."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        """
        CREATE TABLE events (rowid INTEGER PRIMARY KEY, "event.id" TEXT NOT NULL COLLATE BINARY,
            "@timestamp" TEXT NOT NULL COLLATE NOCASE, "user.name" TEXT COLLATE NOCASE);
        CREATE UNIQUE INDEX "events_event.id" ON events ("event.id");
        CREATE TABLE documents (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
        CREATE TABLE fields (name TEXT PRIMARY KEY, affinity TEXT NOT NULL,
            has_column INTEGER NOT NULL);
        INSERT INTO fields VALUES ('event.id', 'TEXT', 1), ('@timestamp', 'TEXT', 1),
            ('user.name', 'TEXT', 1), ('late', 'TEXT', 0);
        """
    )
    for rowid, event in enumerate(events, 1):
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            (rowid, event["event.id"], event["@timestamp"], event.get("user.name")),
        )
        db.execute("INSERT INTO documents VALUES (?, ?)", (rowid, json.dumps(event)))
    db.close()


def test_a_format_1_store_is_upgraded_and_stays_readable(tmp_path: Path) -> None:
    old = [make(n, **{"user.name": f"u{n}", "late": "L", "tags": [n, n]}) for n in range(3)]
    format_1_store(tmp_path / "e.db", old)
    store = SQLiteStore(tmp_path / "e.db")
    assert store.query("PRAGMA user_version") == [{"user_version": FORMAT}]
    new = [make(n, **{"user.name": f"v{n}", "late": "M", "x": 1.5}) for n in range(3, 6)]
    result = store.write([*new, old[0]])
    assert (result.stored, result.duplicates) == (3, 1)  # the old id is still known
    assert [typed(e) for e in store.search(Query())] == [typed(e) for e in old + new]
    assert store.count(Query({"late": "l"})) == 3  # no column: old documents and new _rest
    assert store.count(Query({"late": "m"})) == 3
    store.ensure_columns(["late"])  # filled from both
    assert [r["late"] for r in store.query('SELECT "late" FROM events ORDER BY rowid')] == [
        "L",
        "L",
        "L",
        "M",
        "M",
        "M",
    ]
    got = {e["event.id"]: typed(e) for e in store.by_ids([e["event.id"] for e in old + new])}
    assert got == {e["event.id"]: typed(e) for e in old + new}  # (by_ids: in no set order)
    store.close()
    again = SQLiteStore(tmp_path / "e.db")  # opening an upgraded store changes nothing
    assert [typed(e) for e in again.documents(range(1, 7))] == [typed(e) for e in old + new]
    again.close()


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "e.db").close()
    db = sqlite3.connect(tmp_path / "e.db")
    db.execute(f"PRAGMA user_version = {FORMAT + 1}")
    db.close()
    with pytest.raises(UnavailableError, match="format"):
        SQLiteStore(tmp_path / "e.db")


def test_an_old_store_with_a_field_column_named_like_an_internal_one_is_not_upgraded(
    tmp_path: Path,
) -> None:
    format_1_store(tmp_path / "e.db", [make(0)])
    db = sqlite3.connect(tmp_path / "e.db")
    db.execute('ALTER TABLE events ADD COLUMN "_Rest" TEXT')
    db.close()
    with pytest.raises(UnavailableError, match="_rest"):
        SQLiteStore(tmp_path / "e.db")
    db = sqlite3.connect(tmp_path / "e.db")
    assert db.execute("PRAGMA user_version").fetchone() == (0,)  # untouched
    db.close()
