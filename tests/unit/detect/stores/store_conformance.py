"""The EventStore conformance suite: subclass it and provide a ``store`` fixture (empty store).

Every store (memory, SQLite, Elasticsearch) runs exactly these tests; see the contract in
detect/stores/base.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detect.stores.base import EventStore, Query, collision_id, content_digest
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

    def test_the_same_content_at_another_path_is_a_duplicate(self, store: EventStore) -> None:
        first = make(0, **{"log.file.path": "/evidence/a.log"})
        copy = make(0, **{"log.file.path": "/copies/a.log"})  # a copy of the same file
        store.write([first])
        result = store.write([copy])
        assert (result.stored, result.duplicates, result.collisions) == (0, 1, 0)
        assert store.count() == 1

    def test_an_id_taken_by_other_content_is_a_collision_stored_under_a_derived_id(
        self, store: EventStore
    ) -> None:
        first = make(0, message="first host")
        other = make(0, message="second host")  # same id, different content
        store.write([first])
        result = store.write([other])
        assert (result.stored, result.duplicates, result.collisions) == (0, 0, 1)
        assert result.rejected == []
        assert store.count() == 2  # never dropped
        derived = collision_id(other["event.id"], content_digest(other))
        found = store.search(Query({"message": "second host"}))
        assert found == [{**other, "event.id": derived}]  # nothing else changed
        again = store.write([other, first])  # the same inputs again: duplicates only
        assert (again.stored, again.duplicates, again.collisions) == (0, 2, 0)
        assert store.count() == 2

    def test_collisions_inside_one_batch(self, store: EventStore) -> None:
        a, b, c = (make(5, message=m) for m in ("a", "b", "c"))
        result = store.write([a, b, a, c, b, make(6)])
        assert (result.stored, result.duplicates, result.collisions) == (2, 2, 2)
        assert sorted(e["message"] for e in store.search(Query({"message": "*"}))) == [
            "a",
            "b",
            "c",
        ]
        assert store.count() == 4

    def test_content_is_the_declared_event_hash(self, store: EventStore) -> None:
        # Parsers set event.hash (the record's digest): the same record parsed by a newer
        # parser version (other fields) is the same content.
        old = make(0, **{"event.hash": "ab" * 32, "user.name": "x"})
        new = make(0, **{"event.hash": "ab" * 32, "user.name": "x", "extra.field": "y"})
        other = make(0, **{"event.hash": "cd" * 32, "user.name": "x"})
        store.write([old])
        result = store.write([new, other])
        assert (result.stored, result.duplicates, result.collisions) == (0, 1, 1)
        assert store.count() == 2

    def test_a_collision_id_taken_by_yet_other_content_is_rejected_not_dropped(
        self, store: EventStore
    ) -> None:
        other = make(0, message="b")
        squatter = make(1, message="squatter")
        squatter["event.id"] = collision_id(other["event.id"], content_digest(other))
        store.write([make(0, message="a"), squatter])
        result = store.write([other])
        assert (result.stored, result.duplicates, result.collisions) == (0, 0, 0)
        assert [e for e, _ in result.rejected] == [{**other, "event.id": squatter["event.id"]}]
        assert "taken" in result.rejected[0][1]

    def test_every_event_of_a_batch_is_counted_once(self, store: EventStore) -> None:
        store.write(sample()[:2])
        batch = [
            *sample(),  # 2 duplicates, 3 new
            make(1, message="changed"),  # a collision
            {k: v for k, v in make(40).items() if k != "@timestamp"},  # rejected
        ]
        result = store.write(batch)
        assert (result.stored, result.duplicates, result.collisions) == (3, 2, 1)
        total = result.stored + result.duplicates + result.collisions + len(result.rejected)
        assert total == len(batch)
        assert store.count() == 6

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
