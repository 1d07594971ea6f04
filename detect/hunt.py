"""``detect hunt``'s pure parts: the timeline of detections and its CSV form.

A hunt ingests a folder of evidence into a store (a temporary SQLite file unless one is
given), runs a rule set over all of it and reports every detection. The timeline has one row
per (alert, matching event), oldest first, with the columns forensic users of Zircolite and
Hayabusa look for (:data:`TIMELINE_COLUMNS`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from tulou.contracts.alert import Alert
from tulou.events import Event

TIMELINE_COLUMNS = (
    "timestamp",
    "level",
    "rule_title",
    "rule_id",
    "tags",
    "host",
    "channel",
    "event_code",
    "dataset",
    "source_file",
    "event_id",
    "details",
)
#: Levels from the most to the least severe (the table's order).
LEVELS = ("critical", "high", "medium", "low", "informational")
#: How much of an event's original record the timeline's ``details`` keeps.
DETAILS_CHARS = 1000


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def timeline(alerts: Sequence[Alert], events: Mapping[str, Event]) -> list[dict[str, str]]:
    """One row per (alert, event), by event time then rule title; an event the store no
    longer has still gets its row (the id and the alert's time)."""
    rows = []
    for alert in alerts:
        for event_id in alert.event_ids:
            event = events.get(event_id, {})
            original = _text(event.get("message") or event.get("event.original"))
            rows.append(
                {
                    "timestamp": _text(event.get("@timestamp") or alert.first_seen),
                    "level": alert.level,
                    "rule_title": alert.title,
                    "rule_id": alert.rule_id,
                    "tags": ",".join(alert.tags),
                    "host": _text(event.get("host.name") or event.get("host.hostname")),
                    "channel": _text(event.get("winlog.channel")),
                    "event_code": _text(event.get("event.code")),
                    "dataset": _text(event.get("event.dataset")),
                    "source_file": _text(event.get("log.file.path")),
                    "event_id": event_id,
                    "details": original[:DETAILS_CHARS],
                }
            )
    rows.sort(key=lambda r: (r["timestamp"], r["rule_title"], r["event_id"]))
    return rows


def write_csv(out: TextIO, rows: Iterable[Mapping[str, str]]) -> None:
    """The timeline as CSV (RFC 4180 quoting, a header row)."""
    writer = csv.DictWriter(out, fieldnames=TIMELINE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def by_rule(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """The table: one line per rule that fired, most severe first, then most events."""
    rules: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        line = rules.setdefault(
            alert.rule_id,
            {
                "rule_id": alert.rule_id,
                "title": alert.title,
                "level": alert.level,
                "alerts": 0,
                "events": 0,
                "first_seen": alert.first_seen,
                "last_seen": alert.last_seen,
            },
        )
        line["alerts"] += 1
        line["events"] += len(alert.event_ids)
        line["first_seen"] = min(line["first_seen"], alert.first_seen)
        line["last_seen"] = max(line["last_seen"], alert.last_seen)
    rank = {level: n for n, level in enumerate(LEVELS)}
    return sorted(
        rules.values(), key=lambda r: (rank.get(r["level"], len(LEVELS)), -r["events"], r["title"])
    )


def evidence_files(paths: Iterable[Path]) -> list[Path]:
    """Every file under ``paths`` (directories recursively), in a stable order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            out.append(path)
    return out
