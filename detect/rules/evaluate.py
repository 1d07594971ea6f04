"""Evaluate a compiled rule set on one store over a time range, producing alerts.

Order of work for ``[start, end)``:

1. The pre-filter: the distinct values of the partition fields (``event.dataset``...) in the
   range are read once; a base rule whose required log-source values are all absent is skipped
   without a query (its stat says ``skipped``).
2. Each remaining base rule runs once, fetching the fields its correlations group on.
3. A base rule that generates alerts yields one alert per matching event (alert id =
   rule + version + event, so re-evaluating an overlapping range yields the same ids).
4. Each correlation runs in Python over its base rules' matches
   (:mod:`detect.rules.correlation`), one alert per firing window; a correlation referred to
   by another runs first and its firing windows are matches of the referring one (chaining).
5. Suppression: alerts whose dedup key already alerted less than the rule's
   ``suppression`` window earlier (custom attribute, e.g. ``suppression: 10m``) are dropped and
   counted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from detect.rules.compile import PARTITION_FIELDS, Compilation, CompiledRule
from detect.rules.correlation import (
    CorrelationHit,
    Match,
    as_match,
    evaluate,
    parse_timespan,
)
from detect.rules.literals import Tree
from detect.rules.loader import LoadedRule
from detect.rules.targets import RuleTarget
from tulou.contracts.alert import LEVELS, Alert, Level
from tulou.errors import InputError
from tulou.events import format_timestamp, parse_timestamp

type Floors = dict[str, dict[str, str]]  # correlation id -> group (JSON) -> last used timestamp


@dataclass
class RuleStat:
    rule_id: str
    seconds: float = 0.0
    matches: int = 0
    skipped: bool = False


@dataclass
class RunResult:
    alerts: list[Alert] = field(default_factory=list)
    suppressed: int = 0
    repeated: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # rule id -> why the store refused it
    stats: dict[str, RuleStat] = field(default_factory=dict)
    floors: Floors = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "alerts": len(self.alerts),
            "suppressed": self.suppressed,
            "repeated": self.repeated,
            "rule_errors": len(self.errors),
            "rules_run": sum(1 for s in self.stats.values() if not s.skipped),
            "rules_skipped": sum(1 for s in self.stats.values() if s.skipped),
            "matches": sum(s.matches for s in self.stats.values()),
        }


def run_rules(
    compilation: Compilation,
    target: RuleTarget,
    start: datetime,
    end: datetime,
    *,
    floors: Floors | None = None,
    last_alerted: dict[str, str] | None = None,
    already: set[str] | None = None,
    prefilter: bool = True,
) -> RunResult:
    """Alerts of every rule in ``compilation`` over ``[start, end)`` on ``target``.

    ``floors`` (correlations) and ``last_alerted`` (suppression, dedup key -> last first_seen)
    carry state between runs; both are updated in place and returned in the result. Alerts
    whose id is in ``already`` (delivered by an earlier, overlapping run) are dropped first.
    """
    result = RunResult(floors=floors if floors is not None else {})
    last_alerted = last_alerted if last_alerted is not None else {}
    needed: dict[str, set[str]] = defaultdict(set)
    for _, spec in compilation.correlations.values():
        for base in spec.rules:
            needed[base].update(spec.needed_fields())
    for compiled in compilation.rules.values():
        needed[compiled.rule.rule_id].update(compiled.rule.data.get("fields") or ())
    target.prepare(sorted(compilation.fields() | {f for v in needed.values() for f in v}))
    present = (
        {name: target.distinct(name, start, end) for name in PARTITION_FIELDS} if prefilter else {}
    )
    matches: dict[str, list[Match]] = {}
    batch = getattr(target, "matches_batch", None) if prefilter else None
    # A target whose batch is only shared round trips (Elasticsearch) takes the rules without a
    # log-source condition in a batch too; on SQLite such a batch would scan the whole range.
    batch_all = bool(getattr(target, "batch_without_source", False))
    groups: dict[tuple[tuple[str, frozenset[str]], ...], list[CompiledRule]] = defaultdict(list)
    for rule_id, compiled in compilation.rules.items():
        stat = result.stats[rule_id] = RuleStat(rule_id)
        if prefilter and _absent(compiled, present):
            stat.skipped = True
            matches[rule_id] = []
            continue
        if batch is not None and (compiled.requires or batch_all):
            groups[tuple(sorted(compiled.requires.items()))].append(compiled)
            continue
        began = time.perf_counter()
        found: dict[str, Match] = {}
        try:
            for query in compiled.queries:
                for match in target.matches(rule_id, query, start, end, sorted(needed[rule_id])):
                    found.setdefault(match.event_id, match)
        except InputError as exc:
            # One rule the store refuses (e.g. a regex it cannot parse) never stops the others.
            result.errors[rule_id] = str(exc)
            found = {}
        stat.seconds = time.perf_counter() - began
        stat.matches = len(found)
        matches[rule_id] = sorted(found.values(), key=lambda m: (m.timestamp, m.event_id))
    for requires, members in groups.items():
        # Rules of one log source together (SQLite: shared scans; Elasticsearch: shared
        # _msearch requests); the cost is split evenly among them.
        began = time.perf_counter()
        items = [(c.rule.rule_id, q) for c in members for q in c.queries]
        literals = [_tree(c, i) for c in members for i in range(len(c.queries))]
        fields = sorted({f for c in members for f in needed[c.rule.rule_id]})
        try:
            found_by_rule = (
                batch(
                    items,
                    dict(requires),
                    start,
                    end,
                    fields,
                    literals=literals,
                    errors=result.errors,
                )
                if batch
                else {}
            )
        except InputError:
            found_by_rule = {}  # isolate the failing rule: run this group one rule at a time
            for compiled in members:
                try:
                    found_by_rule[compiled.rule.rule_id] = [
                        m
                        for q in compiled.queries
                        for m in target.matches(compiled.rule.rule_id, q, start, end, fields)
                    ]
                except InputError as exc:
                    result.errors[compiled.rule.rule_id] = str(exc)
        share = (time.perf_counter() - began) / len(members)
        for compiled in members:
            rule_id = compiled.rule.rule_id
            matches[rule_id] = found_by_rule.get(rule_id, [])
            result.stats[rule_id].seconds = share
            result.stats[rule_id].matches = len(matches[rule_id])
    candidates: list[Alert] = []
    for rule_id, compiled in compilation.rules.items():
        if compiled.generates:
            candidates.extend(_event_alert(compiled, m, target.name) for m in matches[rule_id])
    feeds = {ref for _, spec in compilation.correlations.values() for ref in spec.rules}
    for rule_id, (loaded, spec) in compilation.correlations.items():  # referred ones first
        began = time.perf_counter()
        pool = [m for base in spec.rules for m in matches.get(base, [])]
        if rule_id in feeds:
            # Chaining: what this correlation fired on is a match of the ones referring to
            # it. No floors here: a burst an earlier run already saw must still precede the
            # login this run sees; the referring correlation's own floors stop re-alerts.
            matches[rule_id] = [as_match(spec, hit) for hit in evaluate(spec, pool)]
        if rule_id in compilation.silent:
            result.stats[rule_id] = RuleStat(
                rule_id, time.perf_counter() - began, len(matches.get(rule_id, ()))
            )
            continue
        floor = {
            tuple(map(tuple, json.loads(key))): parse_timestamp(value)
            for key, value in result.floors.get(rule_id, {}).items()
        }
        hits = evaluate(spec, pool, after=cast(Any, floor))
        for hit in hits:
            key = json.dumps([list(pair) for pair in hit.group])
            result.floors.setdefault(rule_id, {})[key] = format_timestamp(hit.last_seen)
            candidates.append(_correlation_alert(loaded, hit, spec.type, target.name))
        result.stats[rule_id] = RuleStat(rule_id, time.perf_counter() - began, len(hits))
    rules = {r.rule.rule_id: r.rule for r in compilation.rules.values()}
    rules.update({rid: loaded for rid, (loaded, _) in compilation.correlations.items()})
    candidates.sort(key=lambda a: (a.first_seen, a.rule_id, a.alert_id))
    for alert in candidates:
        if already is not None and alert.alert_id in already:
            result.repeated += 1
            continue
        window = _suppression(rules[alert.rule_id])
        previous = last_alerted.get(alert.dedup_key)
        if (
            window
            and previous is not None
            and timedelta(0)
            <= parse_timestamp(alert.first_seen) - parse_timestamp(previous)
            < window
        ):
            result.suppressed += 1
            continue
        last_alerted[alert.dedup_key] = alert.first_seen
        result.alerts.append(alert)
    return result


def _tree(compiled: CompiledRule, index: int) -> Tree | None:
    return compiled.literals[index] if index < len(compiled.literals) else None


def _absent(compiled: CompiledRule, present: Mapping[str, set[str]]) -> bool:
    for name, allowed in compiled.requires.items():
        values = present.get(name)
        if values is not None and "*" not in values and not (values & allowed):
            return True
    return False


def _suppression(rule: LoadedRule) -> timedelta | None:
    text = rule.data.get("suppression")
    return parse_timespan(str(text)) if text else None


def _level(rule: LoadedRule) -> Level:
    return next((level for level in LEVELS if level == rule.level), "medium")


def dedup_key(rule_id: str, parts: Iterable[tuple[str, Any]]) -> str:
    material = json.dumps([rule_id, [list(p) for p in parts]], default=str, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _event_alert(compiled: CompiledRule, match: Match, store: str) -> Alert:
    rule = compiled.rule
    keyed = [(f, match.values.get(f)) for f in rule.data.get("fields") or ()]
    seen = format_timestamp(match.timestamp)
    return Alert(
        rule_id=rule.rule_id,
        rule_hash=rule.content_hash,
        title=rule.title,
        level=_level(rule),
        event_ids=(match.event_id,),
        dedup_key=dedup_key(rule.rule_id, keyed),
        first_seen=seen,
        last_seen=seen,
        tags=rule.tags,
        description=str(rule.data.get("description", "")),
        fields={"store": store, **{f: v for f, v in keyed}},
    )


def _correlation_alert(loaded: LoadedRule, hit: CorrelationHit, kind: str, store: str) -> Alert:
    return Alert(
        rule_id=loaded.rule_id,
        rule_hash=loaded.content_hash,
        title=loaded.title,
        level=_level(loaded),
        event_ids=hit.event_ids,
        dedup_key=dedup_key(loaded.rule_id, hit.group),
        first_seen=format_timestamp(hit.first_seen),
        last_seen=format_timestamp(hit.last_seen),
        tags=loaded.tags,
        description=str(loaded.data.get("description", "")),
        fields={"store": store, "correlation": kind, "group": dict(hit.group)},
    )
