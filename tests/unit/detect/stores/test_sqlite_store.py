from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from detect.stores import open_store
from detect.stores.base import FetchesByIds, Query
from detect.stores.sqlite import SQLiteStore
from tests.unit.detect.stores.store_conformance import StoreConformance, make, sample
from tulou.errors import InputError


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "events.db")
        yield store
        store.close()


def test_open_store_by_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/x.db")
    assert isinstance(store, SQLiteStore)
    store.write(sample())
    store.close()
    reopened = SQLiteStore(tmp_path / "x.db")
    assert reopened.count() == 5
    assert reopened.write(sample()).duplicates == 5


def test_columns_are_named_after_fields_and_nocase(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    store.write(sample())
    rows = store.query("SELECT rowid FROM events WHERE \"user.name\" = 'ALICE'")
    assert len(rows) == 2
    # what pySigma's sqlite backend emits: backtick-quoted fields, LIKE with ESCAPE
    rows = store.query("SELECT rowid FROM events WHERE `url.path` LIKE '%login%' ESCAPE '\\'")
    assert [e["event.original"] for e in store.documents(r["rowid"] for r in rows)] == ["line 2"]
    rows = store.query("SELECT * FROM events WHERE `destination.port` > 100")
    assert [r["user.name"] for r in rows] == ["bob"]
    assert store.query("SELECT 1 AS x WHERE 'abc' REGEXP 'b.'") == [{"x": 1}]


def test_sigma_sql_from_the_sqlite_backend_runs(tmp_path: Path) -> None:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    rule = SigmaCollection.from_yaml(
        """
title: admin login failures
logsource: {category: webserver}
detection:
  sel:
    url.path|contains: '/ADMIN/'
    event.outcome: failure
  condition: sel
"""
    )
    backend = sqliteBackend(table="events", timestamp_field="@timestamp")
    (sql,) = backend.convert(rule)
    store = SQLiteStore(tmp_path / "e.db")
    store.write(sample())
    rows = store.query(sql)
    assert [r["event.original"] for r in rows] == ["line 2"]


def test_fields_beyond_the_column_cap_are_promoted_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("detect.stores.sqlite.MAX_COLUMNS", 5)
    store = SQLiteStore(tmp_path / "e.db")
    store.write([make(0, **{"late.field": "Value", "other": 3})])
    assert "late.field" not in store.columns()
    from detect.stores.base import Query

    assert store.count(Query({"late.field": "VALUE"})) == 1  # served from the documents
    with pytest.raises(InputError):
        store.query('SELECT "late.field" FROM events')
    store.ensure_columns(["late.field", "never.seen"])
    assert store.query('SELECT "late.field", "never.seen" FROM events') == [
        {"late.field": "Value", "never.seen": None}
    ]
    store.ensure_index("late.field")
    plan = store.query("EXPLAIN QUERY PLAN SELECT rowid FROM events WHERE `late.field` = 'x'")
    assert any("events_late.field" in str(row["detail"]) for row in plan)


def test_field_names_differing_only_in_case_are_both_kept(tmp_path: Path) -> None:
    # auditd's ENRICHED format: raw "uid=0" and interpreted 'UID="root"' in one record.
    store = SQLiteStore(tmp_path / "e.db")
    event = {
        "event.id": "e1",
        "@timestamp": "2026-03-01T08:00:00.000Z",
        "auditd.syscall.uid": "0",
        "auditd.syscall.UID": "root",
    }
    assert store.write([event]).stored == 1
    store.close()
    reopened = SQLiteStore(tmp_path / "e.db")
    (doc,) = reopened.documents([1])
    assert (doc["auditd.syscall.uid"], doc["auditd.syscall.UID"]) == ("0", "root")
    assert reopened.write([{**event, "event.id": "e2"}]).stored == 1
    reopened.close()


def test_a_partly_known_batch_stores_the_new_events_with_their_own_documents(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    first = [make(n, **{"user.name": f"u{n}"}) for n in range(5)]
    assert store.write(first).stored == 5
    # ids 2..4 are known, 5..7 are new, 6 appears twice in the batch
    again = [make(n, **{"user.name": f"u{n}"}) for n in (2, 5, 3, 6, 6, 4, 7)]
    result = store.write(again)
    assert (result.stored, result.duplicates) == (3, 4)
    rows = store.query('SELECT rowid, "event.id", "user.name" FROM events ORDER BY rowid')
    assert [r["rowid"] for r in rows] == list(range(1, 9))  # rowids stay contiguous
    docs = store.documents(r["rowid"] for r in rows)
    assert [(d["event.id"], d["user.name"]) for d in docs] == [
        (r["event.id"], r["user.name"]) for r in rows
    ]
    assert [d["user.name"] for d in docs] == [f"u{n}" for n in (0, 1, 2, 3, 4, 5, 6, 7)]
    store.close()


def test_documents_keep_values_json_cannot_express_compactly(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "e.db")
    odd = make(
        0,
        **{
            "big": 2**70,
            "ratio": float("nan"),
            "nested": {"b": [1, {"c": None}], "a": "ü"},
            "flag": False,
            "none": None,
            "text": 'quote " and \\ and \u2028',
        },
    )
    plain = make(1, **{"tags": ["a", "b"], "empty": [], "ratio": 0.5, "text": "日本"})
    assert store.write([odd, plain]).stored == 2
    got = {d["event.id"]: d for d in store.search(Query())}
    back = got[odd["event.id"]]
    assert back["big"] == 2**70
    assert back["ratio"] != back["ratio"]  # NaN survives (orjson would write null)
    assert {k: v for k, v in back.items() if k != "ratio"} == {
        k: v for k, v in odd.items() if k != "ratio"
    }
    assert got[plain["event.id"]] == plain
    assert store.query('SELECT "flag", "tags", "ratio" FROM events ORDER BY rowid') == [
        {"flag": "false", "tags": None, "ratio": None},  # SQLite binds NaN as NULL
        {"flag": None, "tags": '["a", "b"]', "ratio": 0.5},
    ]
    store.close()


def test_by_ids_is_exact_and_uses_the_id_index(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.db")
    events = sample()
    store.write(events)
    first, second = str(events[0]["event.id"]), str(events[1]["event.id"])
    assert isinstance(store, FetchesByIds)
    got = store.by_ids([second, first, first, first.upper(), "absent", "*"])
    assert sorted(e["event.id"] for e in got) == sorted([first, second])
    assert {e["event.id"]: e for e in got}[first] == events[0]  # the stored document
    assert store.by_ids([]) == []
    many = [str(e["event.id"]) for e in events] + [f"x-{i}" for i in range(1200)]
    assert len(store.by_ids(many)) == len(events)  # across several 500-id statements
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    store.by_ids([first, second])
    store.db.set_trace_callback(None)
    (lookup,) = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    plan = " ".join(str(row[-1]) for row in store.db.execute("EXPLAIN QUERY PLAN " + lookup))
    assert "events_event.id" in plan, plan  # the unique index, not a scan
    store.close()
