"""Event helpers for parsers: sources, deterministic ids, rejected records.

Events are :data:`tulou.events.Event` dicts (flat dotted ECS keys). A parser reads a *source*
(a file, a tailed chunk of a file, a capture) and yields, for every record it reads, either an
event or a :class:`Rejected` value (the record could not be parsed; it goes to the dead-letter
file). That is what makes ``read = stored + duplicates + collisions + dead_lettered``
countable.

Identity (docs/detect.md, "Input identity"): every event carries ``event.hash``, the SHA-256 of
its record's content, and an ``event.id`` derived from the input's identity, the record's
position in it *and* that hash (:func:`record_id`):

- a growing text log's identity is the SHA-256 of its first line (:func:`file_identity`):
  stable while it grows, new when it is rotated; the record's own bytes (``event.original``)
  are its content, so two logs that start with the same line (two hosts' copies) still give
  different ids for every record whose bytes differ;
- a capture (``pcap``, a parser with ``identity = "whole-file"``) is immutable: its identity
  and every event's content hash are the SHA-256 of the whole file, because its events are
  derived from packets spread over it.

Re-ingesting the same file, a copy of it, or the same tailed lines again yields the same ids
and the same hashes: the store counts them as duplicates. Two records share an id only when
their input identity, position and content are the same.
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
#: ``Parser.identity`` values: how an input's identity is computed (see the module docstring).
FIRST_LINE = "first-line"
WHOLE_FILE = "whole-file"
#: Datasets whose ``event.original`` is the record itself (everything but captures): the ids
#: of events stored before ``event.hash`` existed can be recomputed from the stored event
#: (:func:`upgraded_id`).
SELF_CONTAINED_DATASETS = ("auditd", "auth", "evtx", "gateway.audit", "json", "syslog", "web")
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Source:
    """Where records come from.

    ``name`` is for people (a path); ``identity`` is stable for the same content (see
    :func:`file_identity`); ``offset`` is the absolute byte offset at which the stream handed
    to the parser starts (non-zero when tailing). ``digest`` is the SHA-256 of the whole
    input when the identity covers all of it (captures): then it is every event's
    ``event.hash``; otherwise each record's own bytes are hashed.
    """

    name: str
    identity: str
    offset: int = 0
    digest: str | None = None


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


def whole_file_digest(path: Path) -> str:
    """SHA-256 of a file's whole content (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def source_for(path: Path, offset: int = 0, identity: str = FIRST_LINE) -> Source:
    """The source of a file: ``identity`` is the parser's :data:`FIRST_LINE` or
    :data:`WHOLE_FILE` (see the module docstring)."""
    if identity == WHOLE_FILE:
        digest = whole_file_digest(path)
        return Source(name=str(path), identity=digest[:24], offset=offset, digest=digest)
    return Source(name=str(path), identity=file_identity(path), offset=offset)


def content_hash(original: str) -> str:
    """``event.hash`` of a self-contained record: SHA-256 (hex) of ``event.original`` (UTF-8)."""
    return hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()


def record_id(base: str, digest: str) -> str:
    """The event id of a record: ``base`` (the position-based id, ``event_id(dataset:identity,
    position)``) bound to the record's content hash. 128 bits of SHA-256, hex."""
    return hashlib.sha256(f"{base}\x00{digest}".encode()).hexdigest()[:32]


def upgraded_id(old_id: str, original: str) -> str:
    """The id an event of a self-contained dataset has now, from the id it was stored under
    before ``event.hash`` existed (``old_id`` is that event's ``base``)."""
    return record_id(old_id, content_hash(original))


def new_event(  # noqa: PLR0917 - every argument is required and has one meaning
    dataset: str,
    source: Source,
    position: int | str,
    timestamp: datetime | str,
    original: str,
    fields: dict[str, Any],
) -> Event:
    """Build an event: the required fields plus ``fields`` (``None`` values are dropped)."""
    digest = source.digest or content_hash(original)
    event: Event = {
        "@timestamp": timestamp if isinstance(timestamp, str) else format_timestamp(timestamp),
        "event.id": record_id(event_id(f"{dataset}:{source.identity}", position), digest),
        "event.dataset": dataset,
        "event.original": original,
        "event.hash": digest,
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
