"""The EventStore seam: the protocol every store implements, its query and result types.

Contract (the conformance suite in tests/unit/detect/store_conformance.py checks it):

- ``write(events)`` MUST store each event at most once per ``event.id``. An event whose id is
  already stored (or appears earlier in the same batch) with the same *content*
  (:func:`content_digest`) is a *duplicate* and is not stored again. One whose id is taken by
  different content is a *collision*: it MUST be stored under the derived id
  :func:`collision_id` (``event.id`` replaced, nothing else changed) and counted in
  ``collisions``, never dropped; if the derived id is taken by the same content it is a
  duplicate (the colliding input ingested again), if by other content it is rejected. An
  event the store cannot take (a value its mapping refuses) is *rejected* with a reason and
  MUST NOT be stored. So ``len(events) == stored + duplicates + collisions + len(rejected)``.
- When the store cannot be reached it MUST raise :class:`tulou.errors.UnavailableError`;
  some of the batch may then have been stored, so callers retry the whole batch later, which
  is safe because of the first rule.
- ``search`` and ``count`` MUST see every write that has returned. ``search`` returns the
  events as written (same keys and values), oldest first (ties by ``event.id``), at most
  ``query.limit``. Filters are ANDed; a filter matches when the field equals the value, or
  any of the values if a list is given; strings compare case-insensitively and ``*`` in a
  string matches any run of characters; a list-valued field matches if any element does.
  The time range is ``start <= @timestamp < end``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tulou.events import Event

type FilterValue = str | int | float | bool | Sequence[str | int | float | bool]


@dataclass(frozen=True)
class Query:
    """ECS field filters plus a time range (see the module docstring for the semantics)."""

    filters: Mapping[str, FilterValue] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100


@dataclass
class WriteResult:
    """What happened to a batch:
    ``len(batch) == stored + duplicates + collisions + len(rejected)``."""

    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[Event, str]] = field(default_factory=list)
    collisions: int = 0

    def add(self, other: WriteResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.collisions += other.collisions
        self.rejected.extend(other.rejected)


#: Fields that say where an event was read from, not what it says: a copy of a file read at
#: another path is the same content.
_WHERE_FROM = frozenset({"event.id", "log.file.path"})


def content_digest(event: Event) -> str:
    """What "the same content" means for the store contract.

    ``event.hash`` when the event carries one (every parser sets it: SHA-256 of the record,
    detect/model.py); otherwise SHA-256 of the event's canonical JSON without ``event.id`` and
    ``log.file.path``.
    """
    declared = event.get("event.hash")
    if isinstance(declared, str) and declared:
        return declared
    body = {k: v for k, v in event.items() if k not in _WHERE_FROM}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def collision_id(event_id: str, digest: str) -> str:
    """The id a colliding event is stored under: its id bound to its content (deterministic,
    so the same colliding input ingested again is a duplicate, not another collision)."""
    return hashlib.sha256(f"collision\x00{event_id}\x00{digest}".encode()).hexdigest()[:32]


def with_id(event: Event, new_id: str) -> Event:
    """A copy of ``event`` with another ``event.id`` (key order kept)."""
    out = dict(event)
    out["event.id"] = new_id
    return out


def settle(
    fresh: Sequence[Event], held: Callable[[Sequence[str]], dict[str, str]]
) -> tuple[list[Event], int, list[tuple[Event, str]]]:
    """Sort events whose id was already taken into duplicates and collisions.

    ``fresh`` are events the store did not store because their id exists; ``held(ids)`` gives
    the content digests stored under ``ids``. Returns the events to store under their
    collision ids, how many were duplicates, and those to reject (their collision id is
    taken by yet other content). Events of ``fresh`` that share an id are compared with the
    stored one each; a stored event and its later copies in one batch give one collision.
    """
    digests = held(list(dict.fromkeys(e["event.id"] for e in fresh)))
    retry: dict[str, Event] = {}
    duplicates = 0
    for event in fresh:
        digest = content_digest(event)
        if digests.get(event["event.id"]) == digest:
            duplicates += 1
            continue
        derived = collision_id(event["event.id"], digest)
        if derived in retry:
            duplicates += 1  # the same colliding content twice in one batch
        else:
            retry[derived] = with_id(event, derived)
    if not retry:
        return [], duplicates, []
    taken = held(list(retry))
    store: list[Event] = []
    rejected: list[tuple[Event, str]] = []
    for derived, event in retry.items():
        found = taken.get(derived)
        if found is None:
            store.append(event)
        elif found == content_digest(event):
            duplicates += 1
        else:
            rejected.append((event, f"event id {derived} is taken by other content"))
    return store, duplicates, rejected


@runtime_checkable
class EventStore(Protocol):
    """Stores ECS events and finds them again (see the module docstring for the contract)."""

    def write(self, events: Sequence[Event]) -> WriteResult: ...

    def search(self, query: Query) -> list[Event]: ...

    def count(self, query: Query | None = None) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class EncodesBatches(Protocol):
    """A store whose batches can be encoded for it in another process (optional capability).

    ``batch_encoder()`` MUST return a picklable callable (a module-level function, or one
    bound with ``functools.partial`` to plain values such as a directory path; holding no
    connection or other live store state) mapping a batch to a ``Sequence[Event]`` of the same
    events, such that ``write`` of the encoded batch stores exactly what ``write`` of the plain
    batch would and returns the same counts. The Ingestor's parse worker runs it so the
    writing process only writes.
    """

    def batch_encoder(self) -> Callable[[Sequence[Event]], Sequence[Event]]: ...


@runtime_checkable
class LoadsInBulk(Protocol):
    """A store that can take a large load faster when told it is one (optional capability).

    Inside ``with store.bulk():`` writes, searches and counts MUST give the same results as
    outside; the store may postpone work that only makes queries fast (index maintenance) to
    the end of the block, and MUST still end up complete if the process dies inside it (at the
    latest when the store is opened again).
    """

    def bulk(self) -> AbstractContextManager[None]: ...


@runtime_checkable
class FetchesByIds(Protocol):
    """A store that finds events by exact ``event.id`` through its id index (optional capability).

    ``by_ids(ids)`` MUST return every stored event whose ``event.id`` equals one of ``ids``
    exactly (case-sensitive, ``*`` is an ordinary character), each once, in any order -- what a
    ``search`` with an ``event.id`` filter finds, re-checked for exact ids, without a limit.
    Readers that want events by id (the SOC's evidence view) use it where a store has it.
    """

    def by_ids(self, ids: Sequence[str]) -> list[Event]: ...


def as_list(value: FilterValue) -> list[Any]:
    if isinstance(value, str | int | float | bool):
        return [value]
    return list(value)


def wildcard_regex(pattern: str) -> str:
    """A ``*`` pattern as an anchored, case-insensitive regular expression."""
    import re  # noqa: PLC0415 - only the in-memory store needs it

    return "(?is)" + ".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z"
