"""The EventStore conformance suite: subclass it and provide a ``store`` fixture (empty store).

Every store (memory, SQLite, Elasticsearch) runs exactly these tests; see the contract in
detect/stores/base.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detect.stores.base import EventStore, Query
from tulou.events import event_id, format_timestamp

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def make(n: int, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@timestamp": format_timestamp(BASE + timedelta(seconds=n)),
        "event.id": event_id("conformance", n),
        "event.dataset": "test",
        "event.original": f"line {n}",
        "event.kind": "event",
    }
    event.update(fields)
    return event


def sample() -> list[dict[str, Any]]:
    return [
        make(0, **{"user.name": "Alice", "source.ip": "10.0.0.1", "destination.port": 22}),
        make(1, **{"user.name": "bob", "source.ip": "10.0.0.2", "destination.port": 443}),
        make(
            2,
            **{
                "user.name": "ALICE",
                "url.path": "/admin/login.php",
                "event.category": ["network", "web"],
                "event.outcome": "failure",
            },
        ),
        make(3, **{"process.command_line": "powershell -enc AAAA", "tls.established": True}),
        make(4, **{"user.name": "carol", "destination.port": 22, "event.outcome": "success"}),
    ]


class StoreConformance:
    """Mixin of contract tests; the subclass supplies the ``store`` fixture."""

    def test_write_then_count_and_search_round_trip(self, store: EventStore) -> None:
        events = sample()
        result = store.write(events)
        assert (result.stored, result.duplicates, result.rejected) == (5, 0, [])
        assert store.count() == 5
        found = store.search(Query(limit=10))
        assert found == events  # same keys and values, oldest first

    def test_duplicates_are_not_stored_twice(self, store: EventStore) -> None:
        events = sample()
        store.write(events[:3])
        result = store.write([*events, events[4]])
        assert (result.stored, result.duplicates) == (2, 4)
        assert store.count() == 5

    def test_events_without_id_or_timestamp_are_rejected(self, store: EventStore) -> None:
        good = make(9)
        bad = {k: v for k, v in make(10).items() if k != "event.id"}
        result = store.write([good, bad])
        assert result.stored == 1
        assert len(result.rejected) == 1
        assert result.rejected[0][0] == bad
        assert store.count() == 1

    def test_string_filters_are_case_insensitive(self, store: EventStore) -> None:
        store.write(sample())
        found = store.search(Query({"user.name": "alice"}))
        assert [e["event.original"] for e in found] == ["line 0", "line 2"]
        assert store.count(Query({"user.name": "BOB"})) == 1

    def test_wildcards(self, store: EventStore) -> None:
        store.write(sample())
        assert store.count(Query({"url.path": "*LOGIN*"})) == 1
        assert store.count(Query({"process.command_line": "powershell*"})) == 1
        assert store.count(Query({"process.command_line": "*-enc"})) == 0
        assert store.count(Query({"user.name": "a*e"})) == 2

    def test_literal_percent_and_underscore_are_not_wildcards(self, store: EventStore) -> None:
        store.write([make(0, **{"url.query": "a_b"}), make(1, **{"url.query": "a%b"})])
        assert store.count(Query({"url.query": "a_b"})) == 1
        assert store.count(Query({"url.query": "axb"})) == 0
        assert store.count(Query({"url.query": "a%*"})) == 1

    def test_list_of_values_means_any(self, store: EventStore) -> None:
        store.write(sample())
        assert store.count(Query({"user.name": ["bob", "carol"]})) == 2

    def test_list_valued_field_matches_any_element(self, store: EventStore) -> None:
        store.write(sample())
        assert store.count(Query({"event.category": "web"})) == 1
        assert store.count(Query({"event.category": "NETWORK"})) == 1
        assert store.count(Query({"event.category": "file"})) == 0

    def test_numbers_and_booleans(self, store: EventStore) -> None:
        store.write(sample())
        assert store.count(Query({"destination.port": 22})) == 2
        assert store.count(Query({"destination.port": [443, 8443]})) == 1
        assert store.count(Query({"tls.established": True})) == 1

    def test_filters_are_anded(self, store: EventStore) -> None:
        store.write(sample())
        assert store.count(Query({"destination.port": 22, "user.name": "carol"})) == 1
        assert store.count(Query({"destination.port": 22, "user.name": "bob"})) == 0

    def test_unknown_field_matches_nothing(self, store: EventStore) -> None:
        store.write(sample())
        assert store.count(Query({"no.such.field": "x"})) == 0

    def test_time_range_is_half_open(self, store: EventStore) -> None:
        store.write(sample())
        query = Query(start=BASE + timedelta(seconds=1), end=BASE + timedelta(seconds=3))
        assert [e["event.original"] for e in store.search(query)] == ["line 1", "line 2"]
        assert store.count(query) == 2

    def test_limit_keeps_the_oldest(self, store: EventStore) -> None:
        store.write(list(reversed(sample())))
        found = store.search(Query(limit=2))
        assert [e["event.original"] for e in found] == ["line 0", "line 1"]

    def test_many_distinct_field_names(self, store: EventStore) -> None:
        events = [make(i, **{f"custom.f{i}_{j}": f"v{j}" for j in range(60)}) for i in range(40)]
        result = store.write(events)
        assert result.stored == 40
        assert store.count(Query({"custom.f39_59": "V59"})) == 1
        assert store.search(Query({"custom.f7_3": "v3"}))[0] == events[7]

    @pytest.mark.parametrize("size", [1, 250])
    def test_batches_of_any_size(self, store: EventStore, size: int) -> None:
        events = [make(i, **{"source.port": i}) for i in range(size)]
        assert store.write(events).stored == size
        assert store.count() == size
