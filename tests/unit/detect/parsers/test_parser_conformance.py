"""The Parser contract (detect/parsers/base.py), checked on every registered parser.

One suite for every implementation: deterministic ids, one item per record, required fields,
``event.dataset`` = the parser id, ids unique within an input, a line parser's chunked parse
(what the parse workers do) equal to the whole one, and sniffing that recognises its own
format and never raises.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from detect.model import Rejected, Source
from detect.parse_worker import chunkable
from detect.parsers import default_registry
from detect.parsers.base import Item
from tests.unit.detect.parsers.test_parser_fuzz import SEEDS
from tulou.events import REQUIRED_FIELDS

SOURCE = Source(name="conformance", identity="conformance")
IDS = default_registry().ids()


def _items(parser_id: str, data: bytes, source: Source = SOURCE) -> list[Item]:
    return list(default_registry().get(parser_id).parse(io.BytesIO(data), source))


def test_every_parser_has_a_seed() -> None:
    assert set(IDS) <= set(SEEDS), set(IDS) - set(SEEDS)


@pytest.mark.parametrize("parser_id", IDS)
def test_same_input_same_items(parser_id: str) -> None:
    assert _items(parser_id, SEEDS[parser_id]) == _items(parser_id, SEEDS[parser_id])


@pytest.mark.parametrize("parser_id", IDS)
def test_events_carry_the_required_fields_and_unique_ids(parser_id: str) -> None:
    events = [i for i in _items(parser_id, SEEDS[parser_id]) if not isinstance(i, Rejected)]
    assert events or parser_id == "evtx"  # the EVTX seed is an empty file of the format
    for event in events:
        assert all(isinstance(event.get(f), str) for f in REQUIRED_FIELDS), event
        assert event["event.dataset"] == parser_id
    ids = [e["event.id"] for e in events]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("parser_id", [i for i in IDS if chunkable(default_registry().get(i))])
def test_line_parsers_one_item_per_line_and_chunks_equal_the_whole(parser_id: str) -> None:
    data = SEEDS[parser_id] + b"garbage that is no record\n" + SEEDS[parser_id]
    whole = _items(parser_id, data)
    assert len(whole) == len([line for line in data.split(b"\n") if line.strip()])
    for cut in [i + 1 for i, byte in enumerate(data) if byte == ord("\n")][:-1]:
        first = _items(parser_id, data[:cut])
        second = _items(parser_id, data[cut:], replace(SOURCE, offset=cut))
        assert first + second == whole


@pytest.mark.parametrize("parser_id", IDS)
def test_sniff_recognises_its_format_and_never_raises(parser_id: str) -> None:
    registry = default_registry()
    parser = registry.get(parser_id)
    assert parser.sniff(SEEDS[parser_id]) > 0
    for other in SEEDS.values():
        assert 0 <= parser.sniff(other) <= 100
        assert 0 <= parser.sniff(other[: len(other) // 2]) <= 100
