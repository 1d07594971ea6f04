"""The EventSource conformance suite, run against every implementation: the in-memory fake and
detect's real stores (SQLite, and the in-memory store) through the adapter."""

from __future__ import annotations

import pytest

from detect.stores import open_store
from soc.evidence import SOURCES, MemoryEventSource, StoreEventSource, build

EVENTS = [
    {
        "event.id": f"id-{i}",
        "@timestamp": f"2026-01-01T00:00:{i:02d}.000Z",
        "event.dataset": "auth",
        "event.original": f"line {i} with UPPER and *star*",
    }
    for i in range(5)
]


@pytest.fixture(params=["memory-fake", "detect-sqlite", "detect-memory"])
def source(request, tmp_path):
    if request.param == "memory-fake":
        yield MemoryEventSource(EVENTS)
        return
    url = f"sqlite://{tmp_path / 'events.db'}" if request.param == "detect-sqlite" else "memory:"
    store = open_store(url)
    assert store.write(EVENTS).stored == len(EVENTS)
    yield StoreEventSource(store)
    store.close()


def test_fetch_returns_stored_events_in_the_order_asked(source):
    got = source.fetch(["id-3", "id-1"])
    assert [e["event.id"] for e in got] == ["id-3", "id-1"]
    assert got[0]["event.original"] == "line 3 with UPPER and *star*"


def test_missing_and_repeated_ids(source):
    got = source.fetch(["nope", "id-2", "id-2", "ID-2", "id-*"])
    assert [e["event.id"] for e in got] == ["id-2"]
    assert source.fetch([]) == []


def test_many_ids(source):
    ids = [f"id-{i}" for i in range(5)] + [f"x-{i}" for i in range(500)]
    assert len(source.fetch(ids)) == 5


def test_registry():
    assert {"none", "memory", "store"} <= set(SOURCES)
    assert build("none").fetch(["id-1"]) == []
    with pytest.raises(Exception, match="unknown event source"):
        build("carrier-pigeon")


def test_the_built_store_source_serves_from_any_thread(tmp_path):
    """The SOC fetches evidence from its request thread pool; SQLite connections are per thread."""
    import threading

    url = f"sqlite://{tmp_path / 'events.db'}"
    store = open_store(url)
    assert store.write(EVENTS).stored == len(EVENTS)
    store.close()
    source = build("store", {"url": url})
    results: list[list[str]] = []

    def fetch() -> None:
        results.append([e["event.id"] for e in source.fetch(["id-0", "id-4"])])

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fetch()
    assert results == [["id-0", "id-4"]] * 4
