"""Event shapes: how an event is rebuilt exactly from its row of column values.

Format 2 of the SQLite store keeps no JSON copy of each event. A row carries, besides one
column per field, ``_shape`` (the id of the event's shape) and ``_rest`` (JSON of the values
the columns cannot give back exactly, or NULL). A *shape* is the event's keys in their order
and one *kind* letter per key, saying where the value comes from:

====  ==========================================  =========================================
kind  value in the event                          read back as
====  ==========================================  =========================================
``s`` ``str``                                     the column's text (a TEXT column only)
``i`` ``int`` within 64 bits (not ``bool``)       ``int(column)`` (text in a TEXT column)
``b`` ``bool``                                    ``column == 'true'``
``n`` ``None``                                    ``None`` (the column is NULL)
``l`` a one-element list of one ``str``           ``[column]`` (a TEXT column only)
``r`` anything else (floats, big integers, other  ``_rest[key]`` (JSON, read with
      lists, objects)                             :func:`json.loads`)
====  ==========================================  =========================================

A shape is stored once in the ``shapes`` table as JSON ``[[key, ...], "kinds"]``; its id is
the first 8 bytes of its BLAKE2b digest (a signed 64-bit integer), so any process computes
it without asking the store. A parse worker does not know the store's columns: it assumes
every field has a TEXT column for its strings; the writer checks that against the catalogue
(:func:`conflicts`) and re-encodes a batch with the offending names forced to ``r``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tulou.events import Event

#: The two columns of ``events`` that are not fields.
SHAPE_COLUMN = "_shape"
REST_COLUMN = "_rest"
INTERNAL_COLUMNS = (SHAPE_COLUMN, REST_COLUMN)

#: Kinds that read the column as text: they need a column of TEXT affinity.
TEXT_KINDS = frozenset("sl")
#: Kinds that read a column at all.
COLUMN_KINDS = frozenset("silb")

_LOW, _HIGH = -(2**63), 2**63

#: A shape: the keys in event order and one kind letter per key.
type Shape = tuple[tuple[str, ...], str]


def kinds_of(event: Event, rest: frozenset[str] = frozenset()) -> str:
    """One kind letter per key of ``event`` (see the module docstring); names in ``rest`` are
    always ``r``."""
    out = []
    for key, value in event.items():
        kind = type(value)
        if key in rest:
            out.append("r")
        elif kind is str:
            out.append("s")
        elif kind is int:
            out.append("i" if _LOW <= value < _HIGH else "r")
        elif value is None:
            out.append("n")
        elif kind is bool:
            out.append("b")
        elif kind is list and len(value) == 1 and type(value[0]) is str:
            out.append("l")
        else:
            out.append("r")
    return "".join(out)


class _Letters(dict[type, str]):
    def __missing__(self, key: type) -> str:
        return "r"


#: Kind letter by exact type, assuming integers within 64 bits and lists of one string (the
#: caller checks that; :func:`kinds_of` is exact).
LETTERS = _Letters({str: "s", int: "i", bool: "b", type(None): "n", list: "l"})


def shape_text(shape: Shape) -> str:
    """The JSON kept in the ``shapes`` table."""
    return json.dumps([list(shape[0]), shape[1]], ensure_ascii=False, separators=(",", ":"))


def shape_id(text: str) -> int:
    """A shape's id: the first 8 bytes of BLAKE2b of its text, as a signed integer."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def parse_shape(text: str) -> Shape:
    keys, kinds = json.loads(text)
    return tuple(keys), kinds


def conflicts(
    kinds_by_name: Mapping[str, str], fields: Mapping[str, tuple[str, bool]]
) -> frozenset[str]:
    """Names whose kinds in a batch the store's columns cannot give back exactly.

    ``kinds_by_name`` maps a field name to the kinds its values took in the batch; ``fields``
    is the catalogue (name -> (affinity, has a column)).
    """
    bad = set()
    for name, kinds in kinds_by_name.items():
        affinity, has = fields.get(name, ("TEXT", False))
        if not has:
            if COLUMN_KINDS.intersection(kinds):
                bad.add(name)
        elif affinity != "TEXT" and TEXT_KINDS.intersection(kinds):
            bad.add(name)
    return frozenset(bad)


def rebuild(
    shape: Shape, value: Callable[[str], Any], rest: str | None, *, from_text: bool
) -> Event:
    """The event of ``shape``; ``value(key)`` is its column value, ``rest`` its ``_rest``.

    ``from_text``: the values were read from SQLite (a TEXT column gives integers as text).
    """
    keys, kinds = shape
    extra: dict[str, Any] = json.loads(rest) if rest is not None else {}
    event: Event = {}
    for key, kind in zip(keys, kinds, strict=True):
        if kind == "s":
            event[key] = value(key)
        elif kind == "r":
            event[key] = extra[key]
        elif kind == "i":
            number = value(key)
            event[key] = int(number) if from_text and type(number) is not int else number
        elif kind == "l":
            event[key] = [value(key)]
        elif kind == "b":
            event[key] = value(key) == "true"
        else:
            event[key] = None
    return event


def positions(shape: Shape, columns: Sequence[str]) -> dict[str, int]:
    """Where each column-read key of ``shape`` is in ``columns``."""
    where = {name: i for i, name in enumerate(columns)}
    return {key: where[key] for key, kind in zip(*shape, strict=True) if kind in COLUMN_KINDS}


def rest_keys(shapes: Iterable[Shape]) -> set[str]:
    """Every key some shape keeps in ``_rest``."""
    return {
        key for keys, kinds in shapes for key, kind in zip(keys, kinds, strict=True) if kind == "r"
    }
