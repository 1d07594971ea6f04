"""Sigma correlation rules, evaluated in Python over the base rules' matches.

Both stores only answer "which events match this base rule in this time range" (plus the
fields a correlation needs); the correlation itself runs here, once, so SQLite and
Elasticsearch give the same alerts by construction (pySigma's Elasticsearch correlation output
is missing for Lucene and semantically wrong for EQL ``value_count``/``temporal``).

Semantics (docs/rules.md, "Correlation semantics"):

- Matches are grouped by the ``group-by`` fields (a missing field groups as ``None``; a
  multi-valued field groups by its JSON text). Within a group they are ordered by
  (timestamp, event id).
- A window opens at a match ``m`` and holds every later match of the group whose timestamp is
  at most ``m.timestamp + timespan``. The correlation condition is evaluated on that window:

  - ``event_count``: the number of matches;
  - ``value_count``: the number of distinct non-null values of ``condition.field``
    (compared case-insensitively as strings, like Sigma compares strings);
  - ``temporal``: the number of distinct referenced rules with a match in the window;
    without an explicit condition it must be all of them;
  - ``temporal_ordered``: as ``temporal``, and the rules' first matches in the window must
    appear in the order the rules are listed (each one strictly after the previous one's).

- If the condition holds the window becomes one alert (all its events) and the next window
  opens after its last match (windows that fired never overlap); otherwise the next window
  opens at the next match.
- ``after`` (from the watch checkpoint) drops matches at or before the last event an earlier
  run already used for that rule and group, so a lookback overlap never re-alerts.
- Chaining (Sigma: a correlation may refer to another correlation): each firing window of the
  referred correlation is one match of the referring one (:func:`as_match`), at the moment its
  condition first held, grouped by its ``group-by`` values.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tulou.errors import ConfigError

TYPES = ("event_count", "value_count", "temporal", "temporal_ordered")
_OPS = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True, slots=True)
class Match:
    """One event that matched one base rule, with the fields correlations read.

    A fired correlation referenced by another one (Sigma chaining) is one match too, made by
    :func:`as_match`: ``event_id``/``timestamp`` are those of the event at which its condition
    first held, ``since`` its window's first moment and ``evidence`` all its events.
    """

    rule_id: str
    event_id: str
    timestamp: datetime
    values: Mapping[str, Any]
    since: datetime | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorrelationSpec:
    """The parts of a Sigma correlation rule that decide what fires."""

    rule_id: str
    type: str
    rules: tuple[str, ...]  # base rule ids, in the order written
    group_by: tuple[str, ...]
    timespan: timedelta
    condition: Mapping[str, Any]

    @property
    def value_field(self) -> str | None:
        field = self.condition.get("field")
        return str(field) if field else None

    def needed_fields(self) -> tuple[str, ...]:
        extra = (self.value_field,) if self.value_field else ()
        return tuple(dict.fromkeys((*self.group_by, *extra)))


@dataclass(frozen=True)
class CorrelationHit:
    """One window that satisfied the condition."""

    rule_id: str
    group: tuple[tuple[str, Any], ...]
    matches: tuple[Match, ...]

    @property
    def first_seen(self) -> datetime:
        return min(m.since or m.timestamp for m in self.matches)

    @property
    def last_seen(self) -> datetime:
        return self.matches[-1].timestamp

    @property
    def event_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for m in self.matches for e in m.evidence or (m.event_id,)))


def parse_timespan(text: str) -> timedelta:
    """Sigma timespans: ``<n><s|m|h|d|w>`` (``M``/``y`` are refused: months vary)."""
    text = str(text).strip()
    if len(text) < 2 or not text[:-1].isdigit() or text[-1] not in _UNITS:
        raise ConfigError(f"invalid correlation timespan {text!r} (use e.g. 30s, 5m, 1h, 1d)")
    return timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])


def spec_from_rule(
    rule_id: str, correlation: Mapping[str, Any], base_ids: Sequence[str]
) -> CorrelationSpec:
    """Build a spec from a rule's ``correlation:`` mapping, with its references resolved."""
    kind = str(correlation.get("type", ""))
    if kind not in TYPES:
        raise ConfigError(f"unsupported correlation type {kind!r} (supported: {', '.join(TYPES)})")
    group_by = correlation.get("group-by") or ()
    if isinstance(group_by, str):
        group_by = (group_by,)
    condition = dict(correlation.get("condition") or {})
    if kind == "value_count" and not condition.get("field"):
        raise ConfigError("value_count needs condition.field")
    if kind in ("event_count", "value_count") and not set(condition) & set(_OPS):
        raise ConfigError(f"{kind} needs a condition (gt, gte, lt, lte, eq, neq)")
    return CorrelationSpec(
        rule_id=rule_id,
        type=kind,
        rules=tuple(base_ids),
        group_by=tuple(str(g) for g in group_by),
        timespan=parse_timespan(str(correlation.get("timespan", ""))),
        condition=condition,
    )


def holds(condition: Mapping[str, Any], value: int) -> bool:
    """All comparison keys of ``condition`` hold for ``value`` (a range is ``gte`` + ``lte``)."""
    checks = [(op, limit) for op, limit in condition.items() if op in _OPS]
    return bool(checks) and all(_OPS[op](value, int(limit)) for op, limit in checks)


def group_key(spec: CorrelationSpec, match: Match) -> tuple[tuple[str, Any], ...]:
    return tuple((field, _hashable(match.values.get(field))) for field in spec.group_by)


def evaluate(
    spec: CorrelationSpec,
    matches: Iterable[Match],
    after: Mapping[tuple[tuple[str, Any], ...], datetime] | None = None,
) -> list[CorrelationHit]:
    """Every firing window of ``spec`` over ``matches`` (any order), in time order."""
    wanted = set(spec.rules)
    groups: dict[tuple[tuple[str, Any], ...], list[Match]] = defaultdict(list)
    for match in matches:
        if match.rule_id not in wanted:
            continue
        key = group_key(spec, match)
        floor = (after or {}).get(key)
        if floor is not None and match.timestamp <= floor:
            continue
        groups[key].append(match)
    hits: list[CorrelationHit] = []
    for key in sorted(groups, key=lambda k: json.dumps(k, default=str)):
        items = sorted(groups[key], key=lambda m: (m.timestamp, m.event_id, m.rule_id))
        i = 0
        while i < len(items):
            end = items[i].timestamp + spec.timespan
            j = i
            while j + 1 < len(items) and items[j + 1].timestamp <= end:
                j += 1
            window = items[i : j + 1]
            if _fires(spec, window):
                hits.append(CorrelationHit(spec.rule_id, key, tuple(window)))
                i = j + 1
            else:
                i += 1
    hits.sort(key=lambda h: (h.first_seen, h.rule_id, json.dumps(h.group, default=str)))
    return hits


def _fires(spec: CorrelationSpec, window: Sequence[Match]) -> bool:
    if spec.type == "event_count":
        return holds(spec.condition, len({m.event_id for m in window}))
    if spec.type == "value_count":
        field = spec.value_field or ""
        values = {_text(v) for m in window for v in _values(m.values.get(field))}
        return holds(spec.condition, len(values))
    seen = {m.rule_id for m in window}
    if spec.type == "temporal":
        count = len(seen)
        return holds(spec.condition, count) if _has_ops(spec) else count == len(spec.rules)
    # temporal_ordered: each rule's first match strictly after the previous rule's.
    position = datetime.min.replace(tzinfo=window[0].timestamp.tzinfo) if window else None
    for rule in spec.rules:
        later = [
            m.timestamp
            for m in window
            if m.rule_id == rule and position is not None and m.timestamp > position
        ]
        if not later:
            return False
        position = min(later)
    return True


def as_match(spec: CorrelationSpec, hit: CorrelationHit) -> Match:
    """``hit`` as one match of a correlation that refers to ``spec`` (Sigma chaining).

    Its moment is the match at which the condition first held on the window (the fifth
    failure of "five failures"), not the window's end: a rule after it in a
    ``temporal_ordered`` chain must come after *that* moment, and later matches of the same
    burst do not move it. Its values are the group (so the referring correlation must group on
    a subset of ``spec.group_by``); its evidence is every event of the window.
    """
    moment = hit.matches[_moment(spec, hit.matches)]
    return Match(
        rule_id=spec.rule_id,
        event_id=moment.event_id,
        timestamp=moment.timestamp,
        values=dict(hit.group),
        since=hit.first_seen,
        evidence=hit.event_ids,
    )


def _moment(spec: CorrelationSpec, window: Sequence[Match]) -> int:
    """Index of the first match whose window prefix satisfies the condition (else the last)."""
    if spec.type == "temporal_ordered":
        # The greedy walk picks each rule's earliest match after the previous one's; the
        # prefix ending at the last rule's pick is the shortest that fires.
        at = -1
        for rule in spec.rules:
            at = next(
                (
                    n
                    for n in range(len(window))
                    if window[n].rule_id == rule
                    and (at < 0 or window[n].timestamp > window[at].timestamp)
                ),
                len(window) - 1,
            )
        return max(at, 0)
    seen: set[Any] = set()
    field = spec.value_field or ""
    for n, match in enumerate(window):
        if spec.type == "event_count":
            seen.add(match.event_id)
        elif spec.type == "value_count":
            seen.update(_text(v) for v in _values(match.values.get(field)))
        else:
            seen.add(match.rule_id)
        if spec.type == "temporal" and not _has_ops(spec):
            if len(seen) == len(spec.rules):
                return n
        elif holds(spec.condition, len(seen)):
            return n
    return len(window) - 1


def _has_ops(spec: CorrelationSpec) -> bool:
    return bool(set(spec.condition) & set(_OPS))


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return [v for v in value if v is not None] if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """Stores return 22 or "22", True or "true": compare as Sigma does, as lowercase text."""
    return str(value).lower()


def _hashable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str).lower()
    return _text(value)
