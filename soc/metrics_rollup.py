"""The metrics of a window read from the roll-up tables (soc/rollup_schema.py), plus its edges.

A window is every alert created at or after ``since`` (no upper bound). It splits into

- the partial first hour ``[since, H0)`` (``H0`` = ``since`` rounded up to the hour) for the
  per-severity numbers and the volume, and the partial first day ``[since, D0)`` for the rule
  and technique numbers: aggregated from ``alerts`` by :func:`soc.metrics.raw_parts`;
- everything from ``H0`` (``D0``) on: summed from the hourly (daily) roll-up rows.

SLA breaches of alerts not yet acknowledged (resolved) depend on "now": an open alert breaches
once ``created_at < now - target``. The roll-up gives the open alerts of every whole hour
before the hour holding that limit; the alerts of that one hour are counted from ``alerts``.
Breaches of acknowledged (resolved) alerts are fixed once they happen and are counted by the
triggers against the targets in ``metric_sla``: the roll-ups are used only when the caller's
targets equal those (else :func:`parts` returns None and the caller scans ``alerts``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.metrics_parts import Parts, RuleSums, SeveritySums, SlaTarget, raw_parts
from soc.models import (
    Alert,
    MetricRollupRule,
    MetricRollupSeverity,
    MetricRollupTechnique,
    MetricSla,
)

_HOUR = timedelta(hours=1)


def _ceil(moment: datetime, unit: str) -> datetime:
    floor = _floor(moment, unit)
    if floor == moment:
        return floor
    return floor + (_HOUR if unit == "hour" else timedelta(days=1))


def _floor(moment: datetime, unit: str) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if unit == "hour" else floor.replace(hour=0)


def targets_match(session: Session, sla: dict[str, SlaTarget]) -> bool:
    """Whether the roll-ups counted late acknowledgements with exactly ``sla``."""
    stored = {
        s: (a, r)
        for s, a, r in session.execute(
            select(MetricSla.severity, MetricSla.acknowledge_seconds, MetricSla.resolve_seconds)
        )
    }
    wanted = {s: (t.acknowledge_minutes * 60, t.resolve_minutes * 60) for s, t in sla.items()}
    return stored == wanted


def parts(
    session: Session, *, now: datetime, since: datetime, sla: dict[str, SlaTarget], hourly: bool
) -> Parts | None:
    """The window's aggregates from the roll-ups and its edges, or None if not applicable."""
    if not targets_match(session, sla):
        return None
    h0, d0 = _ceil(since, "hour"), _ceil(since, "day")
    result = raw_parts(session, now=now, lo=since, hi=h0, sla=sla, hourly=hourly, rules_hi=d0)

    sev = MetricRollupSeverity
    whole = Parts()
    for row in session.execute(
        select(
            sev.severity,
            func.sum(sev.alerts),
            func.sum(sev.resolved),
            func.sum(sev.acknowledged),
            func.sum(sev.ack_ms),
            func.sum(sev.ack_late),
            func.sum(sev.with_resolved_at),
            func.sum(sev.resolve_ms),
            func.sum(sev.resolve_late),
        )
        .where(sev.hour >= h0)
        .group_by(sev.severity)
    ):
        severity, n, resolved, acked, ack_ms, ack_late, solved, res_ms, res_late = row
        whole.severity[severity] = SeveritySums(
            int(n),
            int(resolved),
            int(acked),
            int(ack_ms) / 1000,
            int(ack_late),
            int(solved),
            int(res_ms) / 1000,
            int(res_late),
        )
    for severity, target in sla.items():
        sums = whole.severity.get(severity)
        if sums is None:
            continue
        sums.ack_breaches += _open_past(
            session, severity, h0, now - timedelta(minutes=target.acknowledge_minutes), "ack"
        )
        sums.resolve_breaches += _open_past(
            session, severity, h0, now - timedelta(minutes=target.resolve_minutes), "resolve"
        )

    label = "%Y-%m-%dT%H:00" if hourly else "%Y-%m-%d"
    for hour, n in session.execute(
        select(sev.hour, func.sum(sev.alerts)).where(sev.hour >= h0).group_by(sev.hour)
    ):
        key = hour.strftime(label)
        whole.volume[key] = whole.volume.get(key, 0) + int(n)

    rule = MetricRollupRule
    for rule_id, n, occurrences, resolved, fps, title in session.execute(
        select(
            rule.rule_id,
            func.sum(rule.alerts),
            func.sum(rule.occurrences),
            func.sum(rule.resolved),
            func.sum(rule.false_positives),
            func.max(rule.title),
        )
        .where(rule.day >= d0, rule.alerts > 0)
        .group_by(rule.rule_id)
    ):
        whole.rules[rule_id] = RuleSums(int(n), int(occurrences), int(resolved), int(fps), title)
    tech = MetricRollupTechnique
    whole.fired = set(
        session.scalars(select(tech.tag).where(tech.day >= d0, tech.alerts > 0).group_by(tech.tag))
    )
    result.add(whole)
    return result


def _open_past(session: Session, severity: str, h0: datetime, limit: datetime, kind: str) -> int:
    """Alerts of ``severity`` created in ``[h0, limit)`` not acknowledged (resolved) yet."""
    sev = MetricRollupSeverity
    edge = _floor(limit, "hour")
    done = sev.acknowledged if kind == "ack" else sev.with_resolved_at
    whole = session.scalar(
        select(func.sum(sev.alerts - done)).where(
            sev.severity == severity, sev.hour >= h0, sev.hour < edge
        )
    )
    stamp = Alert.acknowledged_at if kind == "ack" else Alert.resolved_at
    part = session.scalar(
        select(func.count()).where(
            Alert.severity == severity,
            Alert.created_at >= max(edge, h0),
            Alert.created_at < limit,
            stamp.is_(None),
        )
    )
    return int(whole or 0) + int(part or 0)
