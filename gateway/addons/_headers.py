"""Header edits in one pass over ``Headers.fields`` (same results as mitmproxy's own methods).

mitmproxy's ``headers[name] = value`` and ``headers.pop(name)`` each re-scan every field through
several layers of conversion helpers; the gateway edits a handful of headers per request, so
these do the same edits directly on the ``(name, value)`` byte pairs:

- :func:`set_header` = ``headers[name] = value``: the first field of that name (compared
  ASCII case-insensitively) keeps its spelling and gets the value, later ones are dropped, and
  a missing header is appended;
- :func:`rewrite` = pop every field whose lowercased name is in ``drop``, then append ``add``;
- :func:`append` = add fields whose names are known to be absent (``Sanitizer`` removed them),
  without scanning: the same result as :func:`set_header` when no field of that name exists;
- names and values are encoded like mitmproxy does (UTF-8 with surrogateescape).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def header_bytes(text: str) -> bytes:
    """How mitmproxy encodes header names and values."""
    return text.encode("utf-8", "surrogateescape")


def set_header(headers: Any, name: str, value: str) -> None:
    """``headers[name] = value`` in one pass."""
    key, data = header_bytes(name), header_bytes(value)
    lowered = key.lower()
    fields: list[tuple[bytes, bytes]] = []
    placed = False
    for field in headers.fields:
        if field[0].lower() == lowered:
            if not placed:
                fields.append((field[0], data))
                placed = True
        else:
            fields.append(field)
    if not placed:
        fields.append((key, data))
    headers.fields = tuple(fields)


def rewrite(headers: Any, drop: frozenset[bytes], add: Iterable[tuple[str, str]] = ()) -> None:
    """Remove every field whose lowercased name is in ``drop``; append ``add`` (name, value)."""
    kept = tuple(field for field in headers.fields if field[0].lower() not in drop)
    headers.fields = kept + tuple((header_bytes(name), header_bytes(value)) for name, value in add)


def append(headers: Any, add: Iterable[tuple[str, str]]) -> None:
    """Append ``add`` (name, value); the caller guarantees no field of those names exists."""
    headers.fields = headers.fields + tuple(
        (header_bytes(name), header_bytes(value)) for name, value in add
    )


def lower_names(names: Iterable[str]) -> frozenset[bytes]:
    """The lowercased encoded form of header names, for :func:`rewrite`'s ``drop``."""
    return frozenset(header_bytes(name).lower() for name in names)
