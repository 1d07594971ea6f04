"""Event helpers for parsers: sources, deterministic ids, rejected records.

Events are :data:`tulou.events.Event` dicts (flat dotted ECS keys). A parser reads a *source*
(a file, a tailed chunk of a file, a capture) and yields, for every record it reads, either an
event or a :class:`Rejected` value (the record could not be parsed; it goes to the dead-letter
file). That is what makes ``read = stored + duplicates + dead_lettered`` countable.

The event id is ``tulou.events.event_id(source.identity, position)``: the identity names the
content (not the path), so re-ingesting the same file, a copy of it, or the same tailed lines
again yields the same ids and the store drops them as duplicates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tulou.events import Event, event_id, format_timestamp

#: How many leading bytes of a file name its identity (see :func:`file_identity`).
IDENTITY_BYTES = 1024


@dataclass(frozen=True)
class Source:
    """Where records come from.

    ``name`` is for people (a path); ``identity`` is stable for the same content (see
    :func:`file_identity`); ``offset`` is the absolute byte offset at which the stream handed
    to the parser starts (non-zero when tailing).
    """

    name: str
    identity: str
    offset: int = 0


@dataclass(frozen=True)
class Rejected:
    """A record that could not be parsed: the original bytes, why, and where it was."""

    position: int | str
    reason: str
    original: bytes


def file_identity(path: Path) -> str:
    """The identity of a file's content: SHA-256 of its first line (at most 1 KiB).

    The first line, not the whole file, so that a log that grows keeps its identity, and a
    rotated file (new first line) gets a new one. Two different files that start with the same
    line share an identity; log lines start with timestamps, so in practice they do not.
    """
    with path.open("rb") as handle:
        head = handle.read(IDENTITY_BYTES)
    return identity_of_head(head)


def identity_of_head(head: bytes) -> str:
    """:func:`file_identity` from the first bytes of a file."""
    head = head[:IDENTITY_BYTES]
    newline = head.find(b"\n")
    if newline >= 0:
        head = head[: newline + 1]
    return hashlib.sha256(head).hexdigest()[:24]


def source_for(path: Path, offset: int = 0) -> Source:
    return Source(name=str(path), identity=file_identity(path), offset=offset)


def new_event(  # noqa: PLR0917 - every argument is required and has one meaning
    dataset: str,
    source: Source,
    position: int | str,
    timestamp: datetime | str,
    original: str,
    fields: dict[str, Any],
) -> Event:
    """Build an event: the required fields plus ``fields`` (``None`` values are dropped)."""
    event: Event = {
        "@timestamp": timestamp if isinstance(timestamp, str) else format_timestamp(timestamp),
        "event.id": event_id(f"{dataset}:{source.identity}", position),
        "event.dataset": dataset,
        "event.original": original,
        "log.file.path": source.name,
        "log.offset": position if isinstance(position, int) else None,
    }
    # A loop, not update() with a filtered copy: one dict built instead of two (-2 µs/event).
    for key, value in fields.items():
        if value is not None and value != "":
            event[key] = value
    if event["log.offset"] is None:
        del event["log.offset"]
    return event


def decode_line(raw: bytes) -> str:
    """A log line as text: UTF-8, with undecodable bytes replaced (never an exception)."""
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
