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

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc import metrics_rollup
from soc.i18n import _
from soc.metrics_parts import (
    DEFAULT_SLA,
    Parts,
    RuleSums,
    SeveritySums,
    SlaTarget,
    raw_parts,
)
from soc.models import RuleInfo
from tulou.contracts.alert import LEVELS
from tulou.errors import UsageError

__all__ = [
    "DEFAULT_SLA",
    "Parts",
    "RuleSums",
    "SeveritySums",
    "SlaTarget",
    "compute",
    "coverage",
    "raw_parts",
]


def compute(
    session: Session,
    *,
    now: datetime,
    days: int = 7,
    sla: dict[str, SlaTarget] | None = None,
    use_rollups: bool = True,
) -> dict[str, Any]:
    """The metrics of the alerts created since ``now - days``.

    With ``use_rollups`` (and roll-ups kept for the same SLA targets) whole hours and days come
    from the roll-up tables (:mod:`soc.metrics_rollup`) and only the window's partial first
    hour/day from ``alerts``; without, everything is aggregated from ``alerts``. Both give the
    same numbers (tested); the means may differ in the last digit: roll-ups keep delays in
    whole milliseconds.
    """
    if not 1 <= days <= 366:
        raise UsageError(_("days must be between 1 and 366"))
    sla = sla or DEFAULT_SLA
    since = now - timedelta(days=days)
    hourly = days <= 2
    parts: Parts | None = None
    if use_rollups:
        parts = metrics_rollup.parts(session, now=now, since=since, sla=sla, hourly=hourly)
    if parts is None:
        parts = raw_parts(session, now=now, lo=since, hi=None, sla=sla, hourly=hourly)
    return _report(session, parts, now=now, since=since, days=days, sla=sla, hourly=hourly)


def _report(
    session: Session,
    parts: Parts,
    *,
    now: datetime,
    since: datetime,
    days: int,
    sla: dict[str, SlaTarget],
    hourly: bool,
) -> dict[str, Any]:
    per_severity: dict[str, dict[str, Any]] = {}
    for severity, s in parts.severity.items():
        if not s.alerts:
            continue
        per_severity[severity] = {
            "alerts": s.alerts,
            "resolved": s.resolved,
            "mtta_seconds": round(s.ack_seconds / s.acknowledged, 1) if s.acknowledged else None,
            "mttr_seconds": round(s.resolve_seconds / s.with_resolved_at, 1)
            if s.with_resolved_at
            else None,
            "sla_ack_breaches": s.ack_breaches,
            "sla_resolve_breaches": s.resolve_breaches,
        }
    rules = {r: v for r, v in parts.rules.items() if v.alerts}
    top = sorted(rules, key=lambda r: (-rules[r].alerts, r))[:10]
    return {
        "window": {"since": since.isoformat(), "until": now.isoformat(), "days": days},
        "severity": {lvl: per_severity[lvl] for lvl in reversed(LEVELS) if lvl in per_severity},
        "sla_targets_minutes": {
            k: {"acknowledge": v.acknowledge_minutes, "resolve": v.resolve_minutes}
            for k, v in sla.items()
        },
        "volume": {
            "granularity": "hour" if hourly else "day",
            "buckets": [{"bucket": b, "alerts": n} for b, n in sorted(parts.volume.items()) if n],
        },
        "top_rules": [
            {
                "rule_id": r,
                "title": rules[r].title,
                "alerts": rules[r].alerts,
                "occurrences": rules[r].occurrences,
            }
            for r in top
        ],
        "false_positive_rates": [
            {
                "rule_id": r,
                "title": v.title,
                "resolved": v.resolved,
                "false_positives": v.false_positives,
                "fp_rate": round(v.false_positives / v.resolved, 4),
            }
            for r, v in sorted(rules.items())
            if v.resolved
        ],
        "attack_coverage": coverage(session, parts.fired),
    }


def coverage(session: Session, fired: set[str]) -> dict[str, Any]:
    """Techniques our rules cover vs ``fired`` (the window's), grouped by tactic where known."""
    covered: set[str] = set()
    tactic_of: dict[str, set[str]] = {}
    for (techniques,) in session.execute(select(RuleInfo.techniques)):
        tactics = [t for t in techniques if not t.startswith("attack.t")]
        for tag in techniques:
            if tag.startswith("attack.t"):
                # A sub-technique also files under its technique, as alert tags do
                # (soc.triage.tag_rows), so a fired parent is not "uncovered".
                for name in {tag, tag.rsplit(".", 1)[0] if tag.count(".") > 1 else tag}:
                    covered.add(name)
                    tactic_of.setdefault(name, set()).update(tactics)
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
