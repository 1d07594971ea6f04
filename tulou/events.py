"""The Event contract shared by every parser, store and rule.

An event is a *flat* ``dict`` whose keys are Elastic Common Schema field names written with dots
(``"source.ip"``, ``"event.category"``), and whose values are JSON types (str, int, float, bool,
None, or lists of those). Flat keys are the canonical in-memory form because Sigma rules, SQLite
columns and Elasticsearch's dotted-field support all address fields that way; :func:`nest` turns
an event into ECS's nested JSON when an API wants that shape.

Every event carries:

- ``@timestamp``  -- RFC 3339 UTC with a ``Z`` suffix (:func:`format_timestamp`)
- ``event.id``    -- deterministic: a hash of the source identity and the position in it, so that
  ingesting the same input twice stores nothing twice (:func:`event_id`)
- ``event.dataset`` -- the id of the parser that made it
- ``event.original`` -- the raw line, or a reference to the packet(s) it came from
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

type Event = dict[str, Any]

REQUIRED_FIELDS = ("@timestamp", "event.id", "event.dataset", "event.original")


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a ``Z`` suffix; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Inverse of :func:`format_timestamp` (accepts any ISO 8601 with an offset or ``Z``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def event_id(source: str, position: str | int) -> str:
    """A deterministic event id from where the event came from (file identity + offset...)."""
    digest = hashlib.sha256(f"{source}\x00{position}".encode()).hexdigest()
    return digest[:32]


def nest(event: Mapping[str, Any]) -> dict[str, Any]:
    """Flat dotted keys -> nested objects (``{"source.ip": x}`` -> ``{"source": {"ip": x}}``).

    ``@timestamp`` and keys whose prefix is already a scalar are kept as they are.
    """
    out: dict[str, Any] = {}
    for key in sorted(event):
        parts = key.split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                # A scalar already sits here: keep the rest of the key dotted.
                node[".".join(parts[i:])] = event[key]
                break
            node = child
        else:
            node[parts[-1]] = event[key]
    return out


def flatten(document: Mapping[str, Any], prefix: str = "") -> Event:
    """Nested objects -> flat dotted keys. Lists are kept as values, not flattened."""
    out: Event = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
