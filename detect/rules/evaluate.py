"""Evaluate a compiled rule set on one store over a time range, producing alerts.

:func:`run_rules` is four phases over ``[start, end)``, each a function with typed input and
output (so each can be tested and measured alone):

1. :func:`plan` -- the fields each rule reads are made addressable (``prepare``); the
   pre-filter reads the distinct values of the partition fields (``event.dataset``...) once and
   marks the base rules whose required log-source values are all absent ``skipped``; the rest
   are grouped by log source into batches (targets with :class:`MatchesInBatches`) or left to
   run alone.
2. :func:`match` -- each remaining base rule runs once (alone or in its batch), fetching the
   fields its correlations group on; one rule the store refuses never stops the others.
3. :func:`correlate` -- base rules that generate alerts yield one alert per matching event
   (alert id = rule + version + event, so re-evaluating an overlapping range yields the same
   ids); each correlation runs in Python over its base rules' matches
   (:mod:`detect.rules.correlation`), one alert per firing window, after the
   :class:`CorrelationFloors` of earlier runs; a correlation referred to by another runs first
   and its firing windows are matches of the referring one (chaining).
4. :func:`suppress` -- alerts delivered by an earlier overlapping run are dropped
   (``repeated``), and alerts whose dedup key already alerted less than the rule's
   ``suppression`` window earlier (custom attribute, e.g. ``suppression: 10m``) are dropped and
   counted (:class:`SuppressionState`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
from detect.rules.state import CorrelationFloors, SuppressionState
from detect.rules.targets import MatchesInBatches, RuleTarget
from tulou.contracts.alert import LEVELS, Alert, Level
from tulou.errors import InputError
from tulou.events import format_timestamp, parse_timestamp

__all__ = [
    "CorrelationFloors",
    "Plan",
    "RuleStat",
    "RunResult",
    "SuppressionState",
    "correlate",
    "match",
    "plan",
    "run_rules",
    "suppress",
]

#: Rules of one log source: the sorted (field, allowed values) equalities they all require.
type SourceKey = tuple[tuple[str, frozenset[str]], ...]


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
    floors: CorrelationFloors = field(default_factory=CorrelationFloors)
    suppression: SuppressionState = field(default_factory=SuppressionState)

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


@dataclass
class Plan:
    """What :func:`match` will run: every base rule is in exactly one of the three."""

    fields: dict[str, tuple[str, ...]]  # rule id -> fields its matches must carry
    skipped: list[str] = field(default_factory=list)
    alone: list[CompiledRule] = field(default_factory=list)
    batches: dict[SourceKey, list[CompiledRule]] = field(default_factory=dict)


def run_rules(
    compilation: Compilation,
    target: RuleTarget,
    start: datetime,
    end: datetime,
    *,
    floors: CorrelationFloors | None = None,
    suppression: SuppressionState | None = None,
    already: set[str] | None = None,
    prefilter: bool = True,
) -> RunResult:
    """Alerts of every rule in ``compilation`` over ``[start, end)`` on ``target``.

    ``floors`` and ``suppression`` carry state between runs; both are updated in place and
    returned in the result. Alerts whose id is in ``already`` (delivered by an earlier,
    overlapping run) are dropped.
    """
    result = RunResult(
        floors=floors if floors is not None else CorrelationFloors(),
        suppression=suppression if suppression is not None else SuppressionState(),
    )
    planned = plan(compilation, target, start, end, prefilter=prefilter)
    for rule_id in planned.skipped:
        result.stats[rule_id] = RuleStat(rule_id, skipped=True)
    matches = match(planned, target, start, end, result)
    candidates = correlate(compilation, matches, result.floors, target.name, result.stats)
    result.alerts, result.repeated, result.suppressed = suppress(
        candidates, _rules(compilation), result.suppression, already or set()
    )
    return result


def plan(
    compilation: Compilation,
    target: RuleTarget,
    start: datetime,
    end: datetime,
    *,
    prefilter: bool = True,
) -> Plan:
    """Phase 1: prepare the fields, pre-filter on log source, group rules into batches."""
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
    batching = prefilter and isinstance(target, MatchesInBatches)
    batch_all = batching and isinstance(target, MatchesInBatches) and target.batch_without_source
    out = Plan(fields={rule_id: tuple(sorted(needed[rule_id])) for rule_id in compilation.rules})
    for rule_id, compiled in compilation.rules.items():
        if prefilter and _absent(compiled, present):
            out.skipped.append(rule_id)
        elif batching and (compiled.requires or batch_all):
            key: SourceKey = tuple(sorted(compiled.requires.items()))
            out.batches.setdefault(key, []).append(compiled)
        else:
            out.alone.append(compiled)
    return out


def match(
    planned: Plan, target: RuleTarget, start: datetime, end: datetime, result: RunResult
) -> dict[str, list[Match]]:
    """Phase 2: every planned base rule's matches, oldest first; refusals go to ``errors``."""
    matches: dict[str, list[Match]] = {rule_id: [] for rule_id in planned.skipped}
    for compiled in planned.alone:
        rule_id = compiled.rule.rule_id
        began = time.perf_counter()
        found: dict[str, Match] = {}
        try:
            for query in compiled.queries:
                for m in target.matches(rule_id, query, start, end, planned.fields[rule_id]):
                    found.setdefault(m.event_id, m)
        except InputError as exc:
            result.errors[rule_id] = str(exc)
            found = {}
        matches[rule_id] = sorted(found.values(), key=lambda m: (m.timestamp, m.event_id))
        result.stats[rule_id] = RuleStat(
            rule_id, time.perf_counter() - began, len(matches[rule_id])
        )
    for requires, members in planned.batches.items():
        assert isinstance(target, MatchesInBatches)  # plan() batches only such targets
        began = time.perf_counter()
        found_by_rule = _batch(
            target, members, dict(requires), planned=planned, span=(start, end), result=result
        )
        # Rules of one log source ran together (SQLite: shared scans; Elasticsearch: shared
        # _msearch requests); the cost is split evenly among them.
        share = (time.perf_counter() - began) / len(members)
        for compiled in members:
            rule_id = compiled.rule.rule_id
            matches[rule_id] = found_by_rule.get(rule_id, [])
            result.stats[rule_id] = RuleStat(rule_id, share, len(matches[rule_id]))
    return matches


def _batch(
    target: Any,
    members: list[CompiledRule],
    requires: dict[str, frozenset[str]],
    *,
    planned: Plan,
    span: tuple[datetime, datetime],
    result: RunResult,
) -> dict[str, list[Match]]:
    start, end = span
    items = [(c.rule.rule_id, q) for c in members for q in c.queries]
    literals = [_tree(c, i) for c in members for i in range(len(c.queries))]
    fields = sorted({f for c in members for f in planned.fields[c.rule.rule_id]})
    try:
        found: dict[str, list[Match]] = target.matches_batch(
            items, requires, start, end, fields, literals=literals, errors=result.errors
        )
        return found
    except InputError:
        # Isolate the failing rule: run this batch one rule at a time.
        found = {}
        for compiled in members:
            rule_id = compiled.rule.rule_id
            try:
                found[rule_id] = [
                    m
                    for q in compiled.queries
                    for m in target.matches(rule_id, q, start, end, fields)
                ]
            except InputError as exc:
                result.errors[rule_id] = str(exc)
        return found


def correlate(
    compilation: Compilation,
    matches: dict[str, list[Match]],
    floors: CorrelationFloors,
    store: str,
    stats: dict[str, RuleStat],
) -> list[Alert]:
    """Phase 3: event alerts of generating base rules, then correlations in chain order."""
    candidates: list[Alert] = []
    for rule_id, compiled in compilation.rules.items():
        if compiled.generates:
            candidates.extend(_event_alert(compiled, m, store) for m in matches.get(rule_id, ()))
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
            stats[rule_id] = RuleStat(
                rule_id, time.perf_counter() - began, len(matches.get(rule_id, ()))
            )
            continue
        hits = evaluate(spec, pool, after=floors.of(rule_id))
        for hit in hits:
            floors.advance(rule_id, hit.group, hit.last_seen)
            candidates.append(_correlation_alert(loaded, hit, spec.type, store))
        stats[rule_id] = RuleStat(rule_id, time.perf_counter() - began, len(hits))
    candidates.sort(key=lambda a: (a.first_seen, a.rule_id, a.alert_id))
    return candidates


def suppress(
    candidates: list[Alert],
    rules: Mapping[str, LoadedRule],
    state: SuppressionState,
    already: set[str],
) -> tuple[list[Alert], int, int]:
    """Phase 4: (alerts let through, repeated, suppressed), ``candidates`` oldest first."""
    kept: list[Alert] = []
    repeated = suppressed = 0
    for alert in candidates:
        if alert.alert_id in already:
            repeated += 1
            continue
        window = _suppression(rules[alert.rule_id])
        first = parse_timestamp(alert.first_seen)
        previous = state.last_alerted.get(alert.dedup_key)
        if window and previous is not None and timedelta(0) <= first - previous < window:
            suppressed += 1
            continue
        state.last_alerted[alert.dedup_key] = first
        kept.append(alert)
    return kept, repeated, suppressed


def _rules(compilation: Compilation) -> dict[str, LoadedRule]:
    rules = {r.rule.rule_id: r.rule for r in compilation.rules.values()}
    rules.update({rid: loaded for rid, (loaded, _) in compilation.correlations.items()})
    return rules


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
