"""An in-memory EventStore: the fake other components' unit tests use (never for production).

It implements the whole contract (it passes the conformance suite), and can be told to be
unreachable (``available = False``) to test callers' buffering.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from detect.stores.base import (
    FilterValue,
    Query,
    WriteResult,
    as_list,
    content_digest,
    settle,
    wildcard_regex,
)
from tulou.errors import UnavailableError
from tulou.events import Event, format_timestamp


def _matches(actual: Any, wanted: FilterValue) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    for want in as_list(wanted):
        for value in values:
            if value is None:
                continue
            if isinstance(want, str):
                text = value if isinstance(value, str) else _text(value)
                if "*" in want:
                    if re.match(wildcard_regex(want), text):
                        return True
                elif text.lower() == want.lower():
                    return True
            elif isinstance(want, bool) or isinstance(value, bool):
                if want is value:
                    return True
            elif isinstance(value, int | float) and value == want:
                return True
    return False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class MemoryStore:
    """Events in a dict by id. ``available = False`` makes every call raise UnavailableError."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise UnavailableError("memory store is marked unavailable")

    def write(self, events: Sequence[Event]) -> WriteResult:
        self._check()
        result = WriteResult()
        for event in events:
            ident = event.get("event.id")
            if not isinstance(ident, str) or not isinstance(event.get("@timestamp"), str):
                result.rejected.append((event, "event.id and @timestamp must be strings"))
            elif ident in self.events:
                store, duplicates, rejected = settle([event], self._held)
                for derived in store:
                    self.events[derived["event.id"]] = derived
                result.collisions += len(store)
                result.duplicates += duplicates
                result.rejected.extend(rejected)
            else:
                self.events[ident] = dict(event)
                result.stored += 1
        return result

    def _held(self, ids: Sequence[str]) -> dict[str, str]:
        return {i: content_digest(self.events[i]) for i in ids if i in self.events}

    def _select(self, query: Query) -> list[Event]:
        start = format_timestamp(query.start) if query.start else None
        end = format_timestamp(query.end) if query.end else None
        found = []
        for event in self.events.values():
            stamp = event["@timestamp"]
            if (start and stamp < start) or (end and stamp >= end):
                continue
            if all(_matches(event.get(name), want) for name, want in query.filters.items()):
                found.append(event)
        found.sort(key=lambda e: (e["@timestamp"], e["event.id"]))
        return found

    def search(self, query: Query) -> list[Event]:
        self._check()
        return [dict(e) for e in self._select(query)[: query.limit]]

    def count(self, query: Query | None = None) -> int:
        self._check()
        return len(self._select(query or Query(limit=0)))

    def close(self) -> None:
        pass
