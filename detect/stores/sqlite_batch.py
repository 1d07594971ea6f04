"""Events encoded as the SQLite store inserts them, computable in any process.

:func:`encode_batch` turns a batch of events into an :class:`EncodedBatch`: the batch's field
names, one row per event (the column values in that name order, see :func:`column_value`,
then the event's shape id and ``_rest``, see :mod:`detect.stores.sqlite_shapes`), the
batch's shapes, and the events it will not insert (a repeated ``event.id``, a missing id or
timestamp). It reads no store state, so a parse worker process can build it while the calling
process writes; :meth:`SQLiteStore.write <detect.stores.sqlite.SQLiteStore.write>` encodes a
plain batch with the same function, which is what makes both paths store the same rows.

An :class:`EncodedBatch` is also a ``Sequence[Event]``: the spool, dead letters and the other
stores read its events (rebuilt from the rows and shapes exactly as ``search`` rebuilds them
from the table). Their order: the distinct valid events in input order, then the repeated
ones, then the rejected ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any, overload

import orjson

from detect.stores.sqlite_shapes import (
    LETTERS,
    Shape,
    kinds_of,
    parse_shape,
    rebuild,
    shape_id,
    shape_text,
)
from tulou.events import Event

#: Value types stored as they are (the fast path of :func:`column_value`).
_PLAIN = frozenset({str, int, float, type(None)})
_LOW, _HIGH = -(2**63), 2**63


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
    """Values as JSON text (the ``_rest`` column; compact; ``json.loads`` reads it back).

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

    ``rows[i]`` is the row of the event with id ``ids[i]``: ``rows[i][k]`` is the column value
    of field ``names[k]`` (``None`` when the event lacks it), then come its shape id and its
    ``_rest``. ``shapes`` maps the batch's shape ids to their text; ``kinds`` maps each name
    to the kind letters its values took (what the writer checks against its columns).
    ``rest`` are the names this batch was told to keep in ``_rest`` whatever their values.
    """

    names: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    ids: list[str]
    shapes: dict[int, str]
    kinds: dict[str, str]
    repeated: list[Event] = field(default_factory=list)
    rejected: list[tuple[Event, str]] = field(default_factory=list)
    rest: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.ids) + len(self.repeated) + len(self.rejected)

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
        if index < len(self.ids):
            row = self.rows[index]
            where = {name: k for k, name in enumerate(self.names)}
            shape = parse_shape(self.shapes[row[-2]])
            return rebuild(shape, lambda key: row[where[key]], row[-1], from_text=False)
        index -= len(self.ids)
        if index < len(self.repeated):
            return self.repeated[index]
        return self.rejected[index - len(self.repeated)][0]

    def first_values(self, names: Iterable[str]) -> dict[str, Any]:
        """The first value the stored events have for each name (``None`` values skipped).

        Column values show which event has one; the value itself comes from that event (a
        one-element list of numbers is a list, not a number).
        """
        out: dict[str, Any] = {}
        for name in names:
            k = self.names.index(name)
            hits = (i for i, row in enumerate(self.rows) if row[k] is not None)
            for i in chain(hits, range(len(self.ids))):  # then all ([None] has no value)
                value = self[i].get(name)
                if value is not None:
                    out[name] = value
                    break
        return out


#: Shapes seen by this process: (keys, kinds) -> (id, text, whether it keeps a ``_rest``).
#: Cleared when it grows large.
_SHAPES: dict[Shape, tuple[int, str, bool]] = {}
_SHAPES_MAX = 4096


def _shape(shape: Shape) -> tuple[int, str, bool]:
    found = _SHAPES.get(shape)
    if found is None:
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()
        text = shape_text(shape)
        found = _SHAPES[shape] = (shape_id(text), text, "r" in shape[1])
    return found


def encode_batch(events: Iterable[Event], rest: frozenset[str] = frozenset()) -> EncodedBatch:
    """Validate, de-duplicate (first occurrence wins) and encode ``events``.

    Values of the names in ``rest`` are kept in ``_rest`` (the writer passes the names its
    columns cannot give back exactly, see :func:`detect.stores.sqlite_shapes.conflicts`).
    """
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
    keys = list(map(tuple, batch))
    names = tuple(dict.fromkeys(chain.from_iterable(dict.fromkeys(keys))))  # few distinct
    # Values read per event in one C call, then turned into columns: the type checks run
    # once per column over a set of types (C loops), and only a column holding other than
    # plain values is converted value by value.
    rows = [tuple(map(e.get, names)) for e in batch]
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    quick = not rest  # every event's kinds follow from its value types (LETTERS)
    for k, column in enumerate(columns):
        types = set(map(type, column))
        if not _PLAIN.issuperset(types):
            if list in types:
                # One-element lists of strings (event.category, related.*) are the common
                # non-plain value: unwrapped inline; any other list ends the quick path.
                quick = quick and not [
                    v for v in column if type(v) is list and (len(v) != 1 or type(v[0]) is not str)
                ]
            columns[k] = [
                v
                if type(v) in _PLAIN
                else v[0]
                if type(v) is list and len(v) == 1 and type(v[0]) is str
                else column_value(v)
                for v in column
            ]
        if int in types:  # (bool is not int here: the types are exact)
            quick = quick and not [v for v in column if type(v) is int and not _LOW <= v < _HIGH]
    if quick:
        # The keys and the exact types of the values decide an event's shape (C loops only);
        # the shape itself is worked out once per distinct pair.
        types_of = map(tuple, map(map, repeat(type), map(dict.values, batch)))
        pairs = list(zip(keys, types_of, strict=True))
        local = {
            pair: _shape((pair[0], "".join(map(LETTERS.__getitem__, pair[1]))))
            for pair in dict.fromkeys(pairs)
        }
        found = list(map(local.__getitem__, pairs))
    else:
        found = [_shape((tuple(e), kinds_of(e, rest))) for e in batch]
    shapes: dict[int, str] = {}
    used: dict[str, set[str]] = {}
    for sid, text, _ in found:
        if sid not in shapes:
            shapes[sid] = text
            for key, kind in zip(*parse_shape(text), strict=True):
                used.setdefault(key, set()).add(kind)
    rests: list[str | None] = [None] * len(batch)
    if any(keeps for _, _, keeps in found):
        for i, (event, (sid, _, keeps)) in enumerate(zip(batch, found, strict=True)):
            if keeps:
                kinds = parse_shape(shapes[sid])[1]
                kept = {
                    k: v for (k, v), kind in zip(event.items(), kinds, strict=True) if kind == "r"
                }
                rests[i] = encode_document(kept)
    rows = list(zip(*columns, [sid for sid, _, _ in found], rests, strict=True))
    by_name = {name: "".join(sorted(found)) for name, found in used.items()}
    return EncodedBatch(names, rows, list(fresh), shapes, by_name, repeated, rejected, rest)
