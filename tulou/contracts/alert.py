"""The Alert contract (format 1): what detect and backup raise and the SOC ingests.

An alert names the exact rule version that fired (rule id + SHA-256 of the rule's content), the
events that matched, and a deduplication key: alerts with the same key are grouped by the SOC
(count, first and last seen) instead of flooding the queue.

Writer: :meth:`Alert.to_dict` (the JSON object sent by :mod:`tulou.contracts.soc_ingest`);
reader: :meth:`Alert.from_dict` (the SOC rebuilds the alert from it and checks ``alert_id``).
The format's version is the ingest API's: ``/api/v1/alerts/ingest`` carries format 1.
Contract test: tests/integration/contracts/test_alert_ingest.py (the real client against the
real SOC).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FORMAT = "tulou-alert/1"

type Level = Literal["informational", "low", "medium", "high", "critical"]

LEVELS: tuple[Level, ...] = ("informational", "low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Alert:
    """One firing of one rule version over a set of events."""

    rule_id: str
    rule_hash: str
    title: str
    level: Level
    event_ids: tuple[str, ...]
    dedup_key: str
    first_seen: str
    last_seen: str
    tags: tuple[str, ...] = ()
    description: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        """Deterministic: the same rule version over the same events is the same alert."""
        material = json.dumps(
            [self.rule_id, self.rule_hash, sorted(self.event_ids)], separators=(",", ":")
        )
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event_ids"] = list(self.event_ids)
        data["tags"] = list(self.tags)
        data["alert_id"] = self.alert_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(
            rule_id=data["rule_id"],
            rule_hash=data["rule_hash"],
            title=data["title"],
            level=data["level"],
            event_ids=tuple(data["event_ids"]),
            dedup_key=data["dedup_key"],
            first_seen=data["first_seen"],
            last_seen=data["last_seen"],
            tags=tuple(data.get("tags", ())),
            description=data.get("description", ""),
            fields=dict(data.get("fields", {})),
        )
