"""The building blocks of the SOC metrics: SLA targets, per-window sums, and the raw aggregation
over ``alerts`` (:func:`raw_parts`). :mod:`soc.metrics` reports them; :mod:`soc.metrics_rollup`
builds the same sums from the roll-up tables. Both import this module and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from soc.models import Alert, AlertTag


@dataclass(frozen=True, slots=True)
class SlaTarget:
    acknowledge_minutes: int
    resolve_minutes: int


#: Default targets per severity (docs/soc.md); a deployment may pass its own.
DEFAULT_SLA: dict[str, SlaTarget] = {
    "critical": SlaTarget(15, 4 * 60),
    "high": SlaTarget(30, 8 * 60),
    "medium": SlaTarget(4 * 60, 3 * 24 * 60),
    "low": SlaTarget(24 * 60, 7 * 24 * 60),
    "informational": SlaTarget(3 * 24 * 60, 30 * 24 * 60),
}


def _seconds(dialect: str, later: Any, earlier: Any) -> ColumnElement[float]:
    if dialect == "sqlite":
        return cast((func.julianday(later) - func.julianday(earlier)) * 86400.0, Float)
    return cast(func.extract("epoch", later - earlier), Float)


def _bucket(dialect: str, column: Any, hourly: bool) -> ColumnElement[str]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%dT%H:00" if hourly else "%Y-%m-%d", column)
    return func.to_char(column, 'YYYY-MM-DD"T"HH24:00' if hourly else "YYYY-MM-DD")


def _window_only(column: Any) -> ColumnElement[Any]:
    """``column`` as an expression no index can serve (the value is the same: the column is NOT
    NULL). Without it SQLite (no planner statistics) groups by walking the whole rule or status
    index -- every alert ever -- instead of the ``created_at`` range of the window."""
    return func.coalesce(column, "")


@dataclass(slots=True)
class SeveritySums:
    """Additive aggregates of one severity over some alerts (a window is a sum of parts)."""

    alerts: int = 0
    resolved: int = 0
    acknowledged: int = 0
    ack_seconds: float = 0.0
    ack_breaches: int = 0
    with_resolved_at: int = 0
    resolve_seconds: float = 0.0
    resolve_breaches: int = 0

    def add(self, other: SeveritySums) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class RuleSums:
    alerts: int = 0
    occurrences: int = 0
    resolved: int = 0
    false_positives: int = 0
    title: str = ""

    def add(self, other: RuleSums) -> None:
        self.alerts += other.alerts
        self.occurrences += other.occurrences
        self.resolved += other.resolved
        self.false_positives += other.false_positives
        self.title = max(self.title, other.title)


@dataclass(slots=True)
class Parts:
    """The window's aggregates, before means, ordering and formatting."""

    severity: dict[str, SeveritySums] = field(default_factory=dict)
    rules: dict[str, RuleSums] = field(default_factory=dict)
    volume: dict[str, int] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)

    def add(self, other: Parts) -> None:
        for key, sev in other.severity.items():
            self.severity.setdefault(key, SeveritySums()).add(sev)
        for key, rule in other.rules.items():
            self.rules.setdefault(key, RuleSums()).add(rule)
        for key, n in other.volume.items():
            self.volume[key] = self.volume.get(key, 0) + n
        self.fired |= other.fired


def raw_parts(
    session: Session,
    *,
    now: datetime,
    lo: datetime,
    hi: datetime | None,
    sla: dict[str, SlaTarget],
    hourly: bool,
    rules_hi: datetime | None = None,
) -> Parts:
    """Aggregates of the alerts created in ``[lo, hi)`` (``hi`` None: no upper bound) straight
    from ``alerts``; the rule and technique parts use ``[lo, rules_hi)`` when given."""
    dialect = session.get_bind().dialect.name
    in_range = and_(Alert.created_at >= lo, *([Alert.created_at < hi] if hi else []))
    rules_hi = rules_hi or hi
    in_rules_range = and_(
        Alert.created_at >= lo, *([Alert.created_at < rules_hi] if rules_hi else [])
    )
    parts = Parts()
    ack = _seconds(dialect, Alert.acknowledged_at, Alert.created_at)
    res = _seconds(dialect, Alert.resolved_at, Alert.created_at)

    # One scan of the range for everything per severity, SLA breaches included (each
    # severity's targets are a CASE branch, not a query of its own).
    ack_whens, res_whens = [], []
    for severity, target in sla.items():
        ack_limit = now - timedelta(minutes=target.acknowledge_minutes)
        res_limit = now - timedelta(minutes=target.resolve_minutes)
        ack_breach = case(
            (Alert.acknowledged_at.is_(None), Alert.created_at < ack_limit),
            else_=ack > target.acknowledge_minutes * 60,
        )
        res_breach = case(
            (Alert.resolved_at.is_(None), Alert.created_at < res_limit),
            else_=res > target.resolve_minutes * 60,
        )
        ack_whens.append((and_(Alert.severity == severity, ack_breach), 1))
        res_whens.append((and_(Alert.severity == severity, res_breach), 1))
    rows = session.execute(
        select(
            Alert.severity,
            func.count(),
            func.sum(case((Alert.status == "resolved", 1), else_=0)),
            func.count(ack),
            func.sum(ack),
            func.sum(case(*ack_whens, else_=0)) if ack_whens else literal(0),
            func.count(res),
            func.sum(res),
            func.sum(case(*res_whens, else_=0)) if res_whens else literal(0),
        )
        .where(in_range)
        .group_by(Alert.severity)
    )
    for severity, total, resolved, n_ack, s_ack, b_ack, n_res, s_res, b_res in rows:
        parts.severity[severity] = SeveritySums(
            int(total),
            int(resolved or 0),
            int(n_ack),
            float(s_ack or 0),
            int(b_ack or 0),
            int(n_res),
            float(s_res or 0),
            int(b_res or 0),
        )

    bucket = _bucket(dialect, Alert.created_at, hourly)
    for b, n in session.execute(select(bucket, func.count()).where(in_range).group_by(bucket)):
        parts.volume[b] = int(n)
    rule = _window_only(Alert.rule_id)
    for r, title, n, occurrences, resolved, fps in session.execute(
        select(
            rule,
            func.max(Alert.title),
            func.count(),
            func.sum(Alert.count),
            func.sum(case((Alert.status == "resolved", 1), else_=0)),
            func.sum(
                case(
                    (
                        and_(Alert.status == "resolved", Alert.closing_reason == "false_positive"),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .where(in_rules_range)
        .group_by(rule)
    ):
        parts.rules[r] = RuleSums(int(n), int(occurrences), int(resolved), int(fps), title)
    parts.fired = {
        tag
        for (tag,) in session.execute(
            select(AlertTag.tag)
            .join(Alert, and_(Alert.id == AlertTag.alert_id))
            .where(in_rules_range, AlertTag.tag.like("attack.t%"))
            .distinct()
        )
    }
    return parts
