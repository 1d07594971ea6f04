"""Base-rule matching on the in-memory event store: the RuleTarget fake.

Queries are the predicates of :class:`~detect.rules.memory_backend.MemoryBackend`, run over the
events of :class:`detect.stores.memory.MemoryStore` in Python. It is the reference the
conformance suite (tests/unit/detect/rules/target_conformance.py) holds SQLite and
Elasticsearch to, and the fake for unit tests of code that runs rules. It has no batch
capability: the evaluator runs its rules one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sigma.processing.pipeline import ProcessingPipeline

from detect.rules.correlation import Match
from detect.rules.memory_backend import MemoryBackend, text
from detect.stores.memory import MemoryStore
from tulou.errors import InputError
from tulou.events import format_timestamp, parse_timestamp


class MemoryRuleTarget:
    """Rules over a :class:`MemoryStore` (see :class:`detect.rules.targets.RuleTarget`)."""

    name = "memory"

    def __init__(self, store: MemoryStore, pipeline: ProcessingPipeline) -> None:
        self.store = store
        self.pipeline = pipeline

    def backend(self) -> MemoryBackend:
        return MemoryBackend(self.pipeline)

    def prepare(self, fields: Sequence[str]) -> None:
        """Nothing to do: every field of every event is addressable."""

    def _range(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        low, high = format_timestamp(start), format_timestamp(end)
        events = [e for e in self.store.events.values() if low <= e["@timestamp"] < high]
        return sorted(events, key=lambda e: (e["@timestamp"], e["event.id"]))

    def matches(
        self, rule_id: str, query: Any, start: datetime, end: datetime, fields: Sequence[str]
    ) -> list[Match]:
        if not callable(query):
            raise InputError(f"rule {rule_id}: not a memory-target query")
        wanted = list(dict.fromkeys(fields))
        return [
            Match(
                rule_id=rule_id,
                event_id=event["event.id"],
                timestamp=parse_timestamp(event["@timestamp"]),
                values={name: event.get(name) for name in wanted},
            )
            for event in self._range(start, end)
            if query(event)
        ]

    def distinct(self, field: str, start: datetime, end: datetime) -> set[str]:
        out: set[str] = set()
        for event in self._range(start, end):
            value = event.get(field)
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    out.add(text(item).lower())
        return out
