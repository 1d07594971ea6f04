"""Events encoded as the SQLite store inserts them, computable in any process.

:func:`encode_batch` turns a batch of events into an :class:`EncodedBatch`: the batch's field
names, one row of column values per event (in that name order, see :func:`column_value`), one
document per event (:func:`encode_document`), and the events it will not insert (a repeated
``event.id``, a missing id or timestamp). It reads no store state, so a parse worker process
can build it while the calling process writes; :meth:`SQLiteStore.write
<detect.stores.sqlite.SQLiteStore.write>` encodes a plain batch with the same function, which
is what makes both paths store the same rows and documents.

An :class:`EncodedBatch` is also a ``Sequence[Event]``: the spool, dead letters and the other
stores read its events (decoded from the documents with :func:`json.loads`, as ``search``
reads them). Their order: the distinct valid events in input order, then the repeated ones,
then the rejected ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, overload

import orjson

from tulou.events import Event

#: Value types stored as they are (the fast path of :func:`column_value`).
_PLAIN = frozenset({str, int, float, type(None)})


def column_value(value: Any) -> Any:
    """How a field value is stored in its column (see :mod:`detect.stores.sqlite`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if len(value) == 1:
            return column_value(value[0])
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value)
    return value


def encode_document(event: Event) -> str:
    """An event as the JSON text kept in ``documents`` (compact; ``json.loads`` reads it back).

    orjson for speed; the standard library for what orjson refuses (integers beyond 64 bits)
    or would change (a non-finite float, which orjson writes as ``null``).
    """
    try:
        text = orjson.dumps(event)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(event, ensure_ascii=False)
    if b"null" in text and any(
        type(v) is float and not math.isfinite(v) for v in _scalars(event.values())
    ):
        return json.dumps(event, ensure_ascii=False)
    return text.decode()


def _unplain(value: Any) -> Any:
    # One-element lists of strings (event.category, related.*) are the common non-plain
    # value: unwrapped here, the rest via column_value.
    if type(value) is list and len(value) == 1 and type(value[0]) is str:
        return value[0]
    return column_value(value)


def _scalars(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list | tuple):
            yield from _scalars(value)
        elif isinstance(value, dict):
            yield from _scalars(value.values())
        else:
            yield value


@dataclass(frozen=True, eq=False)
class EncodedBatch(Sequence[Event]):
    """A batch as the SQLite store inserts it (see the module docstring).

    ``rows[i]`` and ``docs[i]`` belong to the same event; ``rows[i][k]`` is the column value of
    field ``names[k]`` (``None`` when the event lacks it). ``ids[i]`` is its ``event.id``.
    """

    names: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    docs: list[str]
    ids: list[str]
    repeated: list[Event] = field(default_factory=list)
    rejected: list[tuple[Event, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.docs) + len(self.repeated) + len(self.rejected)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("batch index out of range")
        if index < len(self.docs):
            decoded: Event = json.loads(self.docs[index])
            return decoded
        index -= len(self.docs)
        if index < len(self.repeated):
            return self.repeated[index]
        return self.rejected[index - len(self.repeated)][0]

    def first_values(self, names: Iterable[str]) -> dict[str, Any]:
        """The first value the stored events have for each name (``None`` values skipped).

        Column values show which event has one; the value itself comes from that event's
        document (a one-element list of numbers is a list, not a number).
        """
        out: dict[str, Any] = {}
        for name in names:
            k = self.names.index(name)
            hits = (i for i, row in enumerate(self.rows) if row[k] is not None)
            for i in chain(hits, range(len(self.docs))):  # then all ([None] has no value)
                value = self[i].get(name)
                if value is not None:
                    out[name] = value
                    break
        return out


def encode_batch(events: Iterable[Event]) -> EncodedBatch:
    """Validate, de-duplicate (first occurrence wins) and encode ``events``."""
    fresh: dict[str, Event] = {}
    repeated: list[Event] = []
    rejected: list[tuple[Event, str]] = []
    for event in events:
        ident = event.get("event.id")
        if not isinstance(ident, str) or not isinstance(event.get("@timestamp"), str):
            rejected.append((event, "event.id and @timestamp must be strings"))
        elif ident in fresh:
            repeated.append(event)
        else:
            fresh[ident] = event
    batch = list(fresh.values())
    names = tuple(dict.fromkeys(chain.from_iterable(batch)))
    # Column by column: the type checks run once per column over a set of types (C loops),
    # and only a column holding other than plain values is converted value by value.
    columns = []
    for name in names:
        column = [event.get(name) for event in batch]
        if not _PLAIN.issuperset(map(type, column)):
            column = [v if type(v) in _PLAIN else _unplain(v) for v in column]
        columns.append(column)
    rows = list(zip(*columns, strict=True))
    docs = list(map(encode_document, batch))
    return EncodedBatch(names, rows, docs, list(fresh), repeated, rejected)
