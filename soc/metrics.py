"""SOC metrics over a time window: MTTA/MTTR, SLA breaches, volume, top rules, FP rate, ATT&CK.

All numbers are computed by the database (aggregates over the alerts created in the window,
using the ``created_at`` index), never by loading alerts into Python.

- MTTA: mean of ``acknowledged_at - created_at`` (first move out of *new*), per severity.
- MTTR: mean of ``resolved_at - created_at``, per severity.
- SLA breach: an alert not acknowledged (resolved) within its severity's target, counting
  alerts still open past the target as breaches now.
- False-positive rate of a rule: resolved as ``false_positive`` / all resolved.
- ATT&CK coverage: techniques named by the rule catalogue vs techniques in fired alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from soc.models import Alert, AlertTag, RuleInfo
from tulou.alerts import LEVELS
from tulou.errors import UsageError


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


def compute(
    session: Session, *, now: datetime, days: int = 7, sla: dict[str, SlaTarget] | None = None
) -> dict[str, Any]:
    if not 1 <= days <= 366:
        raise UsageError("days must be between 1 and 366")
    sla = sla or DEFAULT_SLA
    dialect = session.get_bind().dialect.name
    since = now - timedelta(days=days)
    in_window = Alert.created_at >= since
    ack = _seconds(dialect, Alert.acknowledged_at, Alert.created_at)
    res = _seconds(dialect, Alert.resolved_at, Alert.created_at)

    # One scan of the window for everything per severity, SLA breaches included (each
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
    per_severity: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(
            Alert.severity,
            func.count(),
            func.avg(ack),
            func.avg(res),
            func.sum(case((Alert.status == "resolved", 1), else_=0)),
            func.sum(case(*ack_whens, else_=0)) if ack_whens else literal(0),
            func.sum(case(*res_whens, else_=0)) if res_whens else literal(0),
        )
        .where(in_window)
        .group_by(Alert.severity)
    )
    for severity, total, mtta, mttr, resolved, ack_breaches, res_breaches in rows:
        per_severity[severity] = {
            "alerts": int(total),
            "resolved": int(resolved or 0),
            "mtta_seconds": round(float(mtta), 1) if mtta is not None else None,
            "mttr_seconds": round(float(mttr), 1) if mttr is not None else None,
            "sla_ack_breaches": int(ack_breaches or 0),
            "sla_resolve_breaches": int(res_breaches or 0),
        }

    hourly = days <= 2
    bucket = _bucket(dialect, Alert.created_at, hourly)
    volume = [
        {"bucket": b, "alerts": int(n)}
        for b, n in session.execute(
            select(bucket, func.count()).where(in_window).group_by(bucket).order_by(bucket)
        )
    ]
    rule = _window_only(Alert.rule_id)
    top_rules = [
        {"rule_id": r, "title": t, "alerts": int(n), "occurrences": int(o)}
        for r, t, n, o in session.execute(
            select(rule, func.max(Alert.title), func.count(), func.sum(Alert.count))
            .where(in_window)
            .group_by(rule)
            .order_by(func.count().desc(), rule)
            .limit(10)
        )
    ]
    fp_rates = [
        {
            "rule_id": r,
            "resolved": int(n),
            "false_positives": int(fp),
            "fp_rate": round(int(fp) / int(n), 4),
        }
        for r, n, fp in session.execute(
            select(
                rule,
                func.count(),
                func.sum(case((Alert.closing_reason == "false_positive", 1), else_=0)),
            )
            .where(in_window, _window_only(Alert.status) == "resolved")
            .group_by(rule)
            .order_by(rule)
        )
    ]
    return {
        "window": {"since": since.isoformat(), "until": now.isoformat(), "days": days},
        "severity": {lvl: per_severity[lvl] for lvl in reversed(LEVELS) if lvl in per_severity},
        "sla_targets_minutes": {
            k: {"acknowledge": v.acknowledge_minutes, "resolve": v.resolve_minutes}
            for k, v in sla.items()
        },
        "volume": {"granularity": "hour" if hourly else "day", "buckets": volume},
        "top_rules": top_rules,
        "false_positive_rates": fp_rates,
        "attack_coverage": coverage(session, since),
    }


def coverage(session: Session, since: datetime) -> dict[str, Any]:
    """Techniques our rules cover vs techniques that fired, grouped by tactic where known."""
    covered: set[str] = set()
    tactic_of: dict[str, set[str]] = {}
    for (techniques,) in session.execute(select(RuleInfo.techniques)):
        tactics = [t for t in techniques if not t.startswith("attack.t")]
        for tag in techniques:
            if tag.startswith("attack.t"):
                covered.add(tag)
                tactic_of.setdefault(tag, set()).update(tactics)
    fired = {
        tag
        for (tag,) in session.execute(
            select(AlertTag.tag)
            .join(Alert, and_(Alert.id == AlertTag.alert_id))
            .where(Alert.created_at >= since, AlertTag.tag.like("attack.t%"))
            .distinct()
        )
    }
    matrix: dict[str, list[dict[str, Any]]] = {}
    for technique in sorted(covered | fired):
        state = (
            "covered_and_fired"
            if technique in covered and technique in fired
            else "covered"
            if technique in covered
            else "fired_uncovered"
        )
        for tactic in sorted(tactic_of.get(technique) or {"attack.unknown-tactic"}):
            name = tactic.removeprefix("attack.")
            matrix.setdefault(name, []).append(
                {"technique": technique.removeprefix("attack.").upper(), "state": state}
            )
    return {
        "covered": len(covered),
        "fired": len(fired),
        "covered_and_fired": len(covered & fired),
        "fired_uncovered": sorted(t.removeprefix("attack.").upper() for t in fired - covered),
        "matrix": matrix,
    }
