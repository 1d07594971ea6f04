"""The Parser seam: protocol, a line-oriented base class, and the registry.

Contract of every parser (checked by the shared fuzz and conformance tests):

- ``parse(stream, source)`` MUST yield exactly one item per record it reads: an event
  (:data:`tulou.events.Event`) or a :class:`detect.model.Rejected`; it MUST NOT raise for bad
  content (a truncated file, garbage bytes, a record it does not understand) -- only
  :class:`OSError` from the stream itself may escape;
- every event MUST carry the required fields of :mod:`tulou.events` with
  ``event.dataset == parser.id`` and an ``event.id`` derived from the source identity and the
  record's position, so parsing the same input twice yields the same ids;
- ``sniff(head)`` returns a confidence 0-100 that ``head`` (the first bytes of an input) is in
  this parser's format; it MUST NOT raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import BinaryIO, ClassVar, Protocol, runtime_checkable

from detect.model import Rejected, Source, decode_line
from tulou.errors import InputError, UsageError
from tulou.events import Event

type Item = Event | Rejected


@runtime_checkable
class Parser(Protocol):
    """Turns records of one format into ECS events (see the module docstring)."""

    @property
    def id(self) -> str: ...

    @property
    def description(self) -> str: ...

    def sniff(self, head: bytes) -> int: ...

    def parse(self, stream: BinaryIO, source: Source) -> Iterator[Item]: ...


class LineParser:
    """Base for formats with one record per line: subclasses implement :meth:`parse_line`.

    ``parse_line`` raises :class:`InputError` (or returns ``None`` for a line that is valid but
    carries no event, e.g. a comment) -- anything it raises becomes a :class:`Rejected`.
    Blank lines are not records.
    """

    id: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: Lines longer than this are rejected unread (a log line is never megabytes long).
    max_line: ClassVar[int] = 64 * 1024
    #: How many of the first lines :meth:`sniff` tries, and the share that must parse.
    sniff_lines: ClassVar[int] = 5

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        raise NotImplementedError

    def sniff(self, head: bytes) -> int:
        lines = [line for line in head.split(b"\n")[: self.sniff_lines] if line.strip()]
        if len(lines) > 1 and not head.endswith(b"\n"):
            lines = lines[:-1]  # the last one is probably cut off
        if not lines:
            return 0
        good = 0
        probe = Source(name="<sniff>", identity="sniff")
        for raw in lines:
            try:
                if self.parse_line(decode_line(raw), probe, 0) is not None:
                    good += 1
            except Exception:  # noqa: BLE001, S112 - sniffing must never raise
                continue
        return int(80 * good / len(lines))

    def parse(self, stream: BinaryIO, source: Source) -> Iterator[Item]:
        position = source.offset
        parse_line = self.parse_line
        limit = self.max_line
        for raw in stream:
            here = position
            position += len(raw)
            if not raw.strip():
                continue
            if len(raw) > limit:
                yield Rejected(here, f"line longer than {limit} bytes", raw)
                continue
            try:
                event = parse_line(decode_line(raw), source, here)
            except InputError as exc:
                yield Rejected(here, exc.message, raw)
                continue
            except (ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
                # A parser bug on odd input must not lose the record or stop the run.
                yield Rejected(here, f"{self.id}: {type(exc).__name__}: {exc}", raw)
                continue
            if event is None:
                yield Rejected(here, f"not a {self.id} record", raw)
            else:
                yield event


def match(pattern: re.Pattern[str], line: str, what: str) -> re.Match[str]:
    """``pattern.match(line)`` or an :class:`InputError` naming ``what`` was expected."""
    found = pattern.match(line)
    if found is None:
        raise InputError(f"not a {what} line")
    return found


class ParserRegistry:
    """Parsers by stable id, in registration order; duplicates are refused."""

    def __init__(self) -> None:
        self._factories: dict[str, Callable[[], Parser]] = {}

    def register(self, parser_id: str, factory: Callable[[], Parser]) -> None:
        if parser_id in self._factories:
            raise ValueError(f"parser {parser_id!r} is already registered")
        self._factories[parser_id] = factory

    def ids(self) -> list[str]:
        return list(self._factories)

    def get(self, parser_id: str) -> Parser:
        try:
            factory = self._factories[parser_id]
        except KeyError:
            known = ", ".join(self._factories)
            raise UsageError(f"unknown format {parser_id!r} (known: {known})") from None
        return factory()

    def detect(self, head: bytes) -> Parser:
        """The parser most confident about ``head``; :class:`InputError` if none is."""
        best: tuple[int, Parser] | None = None
        for parser_id in self._factories:
            parser = self.get(parser_id)
            score = parser.sniff(head)
            if score > 0 and (best is None or score > best[0]):
                best = (score, parser)
        if best is None:
            raise InputError("cannot recognise the format; pass --format")
        return best[1]
