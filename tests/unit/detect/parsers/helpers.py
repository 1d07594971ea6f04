"""Shared helpers for the parser tests: run a parser over bytes, split events from rejects."""

from __future__ import annotations

import io
from typing import Any

from detect.model import Rejected, Source
from detect.parsers.base import Parser

SOURCE = Source(name="sample.log", identity="sample")


def run(parser: Parser, data: bytes) -> tuple[list[dict[str, Any]], list[Rejected]]:
    events: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for item in parser.parse(io.BytesIO(data), SOURCE):
        if isinstance(item, Rejected):
            rejected.append(item)
        else:
            events.append(item)
    return events, rejected


def check(event: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every expected field, one by one (a readable failure names the field)."""
    for name, value in expected.items():
        assert event.get(name) == value, f"{name}: {event.get(name)!r} != {value!r}"
