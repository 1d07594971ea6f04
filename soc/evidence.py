"""Evidence: the raw events behind an alert, fetched by id from an event store.

The seam has the four parts every seam has (STYLE.md): the :class:`EventSource` protocol, a
registry of factories keyed by stable ids (:data:`SOURCES`), an in-memory fake
(:class:`MemoryEventSource`) and a conformance suite (tests/unit/soc/test_evidence.py) run
against every registered implementation. detect's stores plug in through a small adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from tulou.errors import ConfigError
from tulou.events import Event

#: The most events one alert's evidence page shows.
MAX_EVIDENCE = 500


@runtime_checkable
class EventSource(Protocol):
    """Fetch stored events by ``event.id``.

    ``fetch(ids)`` MUST return the stored events whose ``event.id`` is in ``ids``, each at most
    once, in the order of ``ids``; ids that are not stored MUST be skipped silently (an event
    may have been expired by retention); it MUST NOT modify the events it returns' store, and
    it MUST keep ``event.original``. It raises :class:`tulou.errors.UnavailableError` when the
    store cannot be reached.
    """

    def fetch(self, ids: Sequence[str]) -> list[Event]: ...


class MemoryEventSource:
    """An in-memory event source (tests, demos)."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._events: dict[str, Event] = {}
        self.add(events)

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            self._events[str(event["event.id"])] = dict(event)

    def searcher(self) -> Any:
        """The event search fake over these events (soc.event_search)."""
        from soc.event_search import MemoryEventSearch  # noqa: PLC0415

        return MemoryEventSearch(list(self._events.values()))

    def count(self, filters: dict[str, Any]) -> int:
        """Events whose fields equal every filter (exact; for enrichment)."""
        return sum(
            all(str(e.get(k)) == str(v) for k, v in filters.items()) for e in self._events.values()
        )

    def fetch(self, ids: Sequence[str]) -> list[Event]:
        seen: set[str] = set()
        out: list[Event] = []
        for event_id in ids:
            if event_id in self._events and event_id not in seen:
                seen.add(event_id)
                out.append(dict(self._events[event_id]))
        return out


class NoEventSource:
    """No event store configured: every alert has no retrievable evidence."""

    def fetch(self, ids: Sequence[str]) -> list[Event]:
        return []


class StoreEventSource:
    """Evidence from one of detect's event stores (SQLite or Elasticsearch), by ``event.id``.

    Uses the EventStore protocol (``search`` with an ``event.id`` filter), so every store that
    passes detect's conformance suite works, or a store's exact id lookup where it has one
    (``FetchesByIds``: SQLite's unique id index). Store filters treat ``*`` as a wildcard, so
    ids containing one are skipped, and results are re-checked for exact ids.

    Given an ``opener`` instead of a store, each thread opens its own store on first use: the
    SOC answers requests from a thread pool, and a SQLite connection belongs to the thread
    that opened it.
    """

    def __init__(self, store: Any = None, *, opener: Callable[[], Any] | None = None) -> None:
        if (store is None) == (opener is None):
            raise ValueError("give a store or an opener")
        self._shared = store
        self._opener = opener
        self._local = threading.local()

    @property
    def _store(self) -> Any:
        if self._opener is None:
            return self._shared
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self._opener()
        return store

    def searcher(self) -> Any:
        """The event search over this store (soc.event_search), in this thread's handle."""
        from soc.event_search import for_store  # noqa: PLC0415

        return for_store(self._store)

    def count(self, filters: dict[str, Any]) -> int:
        """How many stored events match ``filters`` (the store's count; for enrichment)."""
        from detect.stores.base import Query  # noqa: PLC0415 - detect loads only when used

        return int(self._store.count(Query(filters=filters)))

    def fetch(self, ids: Sequence[str]) -> list[Event]:
        from detect.stores.base import (  # noqa: PLC0415 - detect loads only when used
            FetchesByIds,
            Query,
        )

        wanted = [i for i in dict.fromkeys(ids) if "*" not in i]
        found: dict[str, Event] = {}
        store = self._store
        if isinstance(store, FetchesByIds):  # an exact lookup through the store's id index
            for event in store.by_ids(wanted):
                found.setdefault(str(event.get("event.id")), event)
            return [found[i] for i in wanted if i in found]
        for start in range(0, len(wanted), 200):
            chunk = wanted[start : start + 200]
            for event in store.search(Query(filters={"event.id": chunk}, limit=len(chunk))):
                found.setdefault(str(event.get("event.id")), event)
        return [found[i] for i in wanted if i in found]


def _detect_store(options: dict[str, Any]) -> EventSource:
    from detect.stores import open_store  # noqa: PLC0415 - detect loads only when used

    url, key = str(options["url"]), options.get("api_key")
    return StoreEventSource(opener=lambda: open_store(url, key))


type SourceFactory = Callable[[dict[str, Any]], EventSource]

SOURCES: dict[str, SourceFactory] = {}


def register(name: str, factory: SourceFactory) -> None:
    if name in SOURCES:
        raise ValueError(f"event source {name!r} is registered twice")
    SOURCES[name] = factory


def build(name: str, options: dict[str, Any] | None = None) -> EventSource:
    try:
        factory = SOURCES[name]
    except KeyError:
        raise ConfigError(
            f"unknown event source {name!r}; known: {', '.join(sorted(SOURCES))}"
        ) from None
    return factory(options or {})


register("none", lambda _options: NoEventSource())
register("memory", lambda _options: MemoryEventSource())
register("store", _detect_store)
