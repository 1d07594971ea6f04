"""Detection evidence: the rules in force, their ATT&CK coverage, and log retention actually held.

- ``detect.rules``     Sigma rules loaded from ``rules/`` (detect's loader): total, enabled
                       (status not ``deprecated`` / ``unsupported``), load problems
- ``detect.attack``    ATT&CK techniques and tactics the enabled rules are tagged with
- ``detect.retention`` the oldest and newest event kept in the event store against the required
                       six months (183 days), measured at the end of the period (or now)

The event store is reached through detect's :class:`~detect.stores.base.EventStore` protocol
(``search`` returns the oldest events first), opened by the factory the caller passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compliance.evidence import Evidence, Excerpt, excerpt, file_sm3
from compliance.i18n import _
from compliance.period import Period
from detect.rules.loader import load_rules
from detect.stores.base import EventStore, Query
from tulou.errors import TulouError
from tulou.events import parse_timestamp

#: Six months, counted generously (GB/T 22239 8.1.5.4 and the Cybersecurity Law, art. 21).
REQUIRED_DAYS = 183
_DISABLED = frozenset({"deprecated", "unsupported"})
_TACTICS = {
    "reconnaissance",
    "resource_development",
    "initial_access",
    "execution",
    "persistence",
    "privilege_escalation",
    "defense_evasion",
    "credential_access",
    "discovery",
    "lateral_movement",
    "collection",
    "command_and_control",
    "exfiltration",
    "impact",
}


def attack_tags(tags: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(techniques, tactics) of Sigma tags (``attack.t1110.001``, ``attack.credential_access``)."""
    techniques, tactics = set(), set()
    for tag in tags:
        lower = tag.lower()
        if not lower.startswith("attack."):
            continue
        name = lower.removeprefix("attack.")
        if name.startswith("t") and name[1:5].isdigit():
            techniques.add(name.upper())
        elif name.replace("-", "_") in _TACTICS:
            tactics.add(name.replace("-", "_"))
    return techniques, tactics


class RulesCollector:
    id: str = "rules"
    keys: tuple[str, ...] = ("detect.rules", "detect.attack")

    def __init__(self, rules_dir: Path) -> None:
        self.rules_dir = rules_dir

    def collect(self, period: Period) -> list[Evidence]:
        if not self.rules_dir.is_dir():
            problem = _("no rules directory {name}").format(name=self.rules_dir.name)
            return [Evidence.unavailable(k, self.id, problem) for k in self.keys]
        ruleset = load_rules([self.rules_dir])
        enabled = [
            r for r in ruleset.rules if str(r.data.get("status", "")).lower() not in _DISABLED
        ]
        techniques: set[str] = set()
        tactics: set[str] = set()
        for rule in enabled:
            found_t, found_ta = attack_tags(rule.tags)
            techniques |= found_t
            tactics |= found_ta
        shown = [
            excerpt(
                r.title,
                r.path.name,
                f"id: {r.rule_id}\ntitle: {r.title}\nstatus: {r.data.get('status', '')}\n"
                f"level: {r.level}\ntags: {', '.join(r.tags)}",
                locator=_("line {n}").format(n=r.line),
                source_sm3=file_sm3(r.path),
            )
            for r in enabled[:100]
        ]
        rules = Evidence(
            "detect.rules",
            self.id,
            "Detection rules",
            {
                "total": len(ruleset.rules),
                "enabled": len(enabled),
                "disabled": len(ruleset.rules) - len(enabled),
                "problems": len(ruleset.errors),
                "problem_locations": [
                    Path(str(p.location)).name for p in ruleset.errors[:20] if p.location
                ],
            },
            tuple(shown),
        )
        attack = Evidence(
            "detect.attack",
            self.id,
            "ATT&CK coverage of the enabled rules",
            {
                "techniques": len({t.split(".")[0] for t in techniques}),
                "sub_techniques": len(techniques),
                "technique_ids": sorted(techniques),
                "tactics": sorted(tactics),
                "tactic_count": len(tactics),
            },
            tuple(shown[:10]),
        )
        return [rules, attack]


class RetentionCollector:
    id: str = "retention"
    keys: tuple[str, ...] = ("detect.retention",)

    def __init__(
        self,
        open_store: Callable[[], EventStore],
        *,
        where: str,
        configured_days: int | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.open_store = open_store
        self.where = where
        self.configured_days = configured_days
        self.now = now

    def collect(self, period: Period) -> list[Evidence]:
        try:
            store = self.open_store()
        except (TulouError, OSError) as exc:
            problem = _("event store: {problem}").format(problem=exc)
            return [Evidence.unavailable("detect.retention", self.id, problem)]
        try:
            oldest = store.search(Query(limit=1))
            total = store.count()
        except (TulouError, OSError) as exc:
            problem = _("event store: {problem}").format(problem=exc)
            return [Evidence.unavailable("detect.retention", self.id, problem)]
        finally:
            store.close()
        as_of = min(self.now(), period.end)
        facts: dict[str, Any] = {
            "events": total,
            "required_days": REQUIRED_DAYS,
            "configured_days": self.configured_days,
            "as_of": as_of.isoformat(),
            "oldest_event": None,
            "days_held": None,
        }
        shown: tuple[Excerpt, ...] = ()
        if oldest:
            moment = parse_timestamp(str(oldest[0]["@timestamp"]))
            facts["oldest_event"] = moment.isoformat()
            facts["days_held"] = round((as_of - moment).total_seconds() / 86400, 1)
            facts["oldest_event_id"] = oldest[0].get("event.id")
            record = {k: oldest[0].get(k) for k in ("@timestamp", "event.id", "event.dataset")}
            record["event.original"] = str(oldest[0].get("event.original", ""))[:300]
            shown = (
                excerpt(
                    _("oldest event kept"),
                    self.where,
                    json.dumps(record, ensure_ascii=False, indent=1),
                    locator=f"event.id={oldest[0].get('event.id')}",
                ),
            )
        return [Evidence("detect.retention", self.id, "Log retention held", facts, shown)]
