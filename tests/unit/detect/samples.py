"""Sample events that a rule must and must not alert on (``tests/unit/detect/rule_samples``).

Test support, not production code: it reads the corpus tests' own data (it used to live in
``detect/rules`` and made production read ``tests/``).

File format (YAML, one per rule, named after the rule's slug)::

    rule: <slug>
    positive: [ {event}, ... ]   # together these MUST raise at least one alert of the rule
    negative: [ {event}, ... ]   # together these MUST raise none

Events are flat ECS dicts. ``event.id`` and ``event.original`` may be omitted: they are filled
deterministically (the id from the file, the list and the position; the original as the
event's JSON) so samples stay short. For a correlation rule the positive list is the sequence
that fires, for a base rule every positive event must alert on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from detect.rules.compile import Compilation
from detect.rules.evaluate import run_rules
from detect.rules.targets import RuleTarget
from tulou.errors import InputError
from tulou.events import Event, event_id, parse_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Samples:
    slug: str
    positive: list[Event] = field(default_factory=list)
    negative: list[Event] = field(default_factory=list)


def load_samples(path: Path) -> Samples:
    """Read one sample file; raises :class:`InputError` if it is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read samples: {exc}", location=str(path)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("rule"), str):
        raise InputError("samples need 'rule', 'positive' and 'negative'", location=str(path))
    out = Samples(slug=data["rule"])
    for kind in ("positive", "negative"):
        events = data.get(kind)
        if not isinstance(events, list) or not events:
            raise InputError(f"'{kind}' must be a non-empty list of events", location=str(path))
        for index, raw in enumerate(events):
            if not isinstance(raw, dict) or "@timestamp" not in raw:
                raise InputError(
                    f"{kind}[{index}] must be an event with @timestamp", location=str(path)
                )
            event = dict(raw)
            event.setdefault("event.id", event_id(f"sample:{out.slug}:{kind}", index))
            event.setdefault("event.original", json.dumps(raw, sort_keys=True, default=str))
            getattr(out, kind).append(event)
    return out


def time_range(events: list[Event]) -> tuple[datetime, datetime]:
    moments = [parse_timestamp(e["@timestamp"]) for e in events]
    return min(moments), max(moments) + timedelta(milliseconds=1)


@dataclass
class Verdict:
    """What one side of the samples raised."""

    alerts: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # rule id -> ids

    def fired(self, rule_id: str) -> list[tuple[str, ...]]:
        return self.alerts.get(rule_id, [])


def evaluate_samples(compilation: Compilation, target: RuleTarget, events: list[Event]) -> Verdict:
    """Run ``compilation`` on ``target`` (already holding ``events``) over their time range."""
    start, end = time_range(events)
    result = run_rules(compilation, target, start, end)
    verdict = Verdict()
    for alert in result.alerts:
        verdict.alerts.setdefault(alert.rule_id, []).append(alert.event_ids)
    return verdict


def samples_path(root: Path, slug: str) -> Path:
    return root / f"{slug}.yaml"


def describe(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)
