"""SOC evidence from the SOC database: incidents, response times, roles, the audit chain.

- ``soc.incidents``   cases detected in the period by GB/T 20986 category and grade, each with its
                      reporting deadline (:mod:`soc.grading`) and whether it was met
- ``soc.response``    alerts created in the period: MTTA (created -> acknowledged) and MTTR
                      (created -> resolved), in minutes; alerts by severity
- ``soc.roles``       active human accounts per role (separation of duties)
- ``soc.audit_chain`` :func:`soc.audit.verify` over the whole SM3 chain
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from compliance.evidence import Evidence, excerpt
from compliance.i18n import _
from compliance.period import Period
from soc import audit, grading
from soc.db import Database
from soc.models import Alert, Case, RuleInfo, TimelineEntry, User

#: The fields of a case bundled into the report.
_CASE_SHOWN = (
    "id",
    "title",
    "category",
    "grade",
    "system_class",
    "detected_at",
    "reported_at",
    "deadline_state",
    "status",
)
KEYS = ("soc.incidents", "soc.response", "soc.roles", "soc.audit_chain")
#: The SOC's facts are as trustworthy as its audit chain: they are vouched for by it.
CHAIN = "soc.audit_chain"
GRADE_ROMAN = {"特别重大": "I", "重大": "II", "较大": "III", "一般": "IV"}


def incident_record(case: Case, now: datetime) -> dict[str, Any]:
    """One case as the incident report and the compliance report show it."""
    deadline = grading.deadline(
        case.grade, case.system_class, case.detected_at, case.reported_at, now
    )
    return {
        "id": case.id,
        "title": case.title,
        "description": case.description,
        "status": case.status,
        "category": case.category,
        "category_zh": grading.CATEGORIES.get(case.category, case.category),
        "grade": case.grade,
        "grade_roman": GRADE_ROMAN.get(case.grade, "?"),
        "system_class": case.system_class,
        "detected_at": case.detected_at.isoformat(),
        "reported_at": case.reported_at.isoformat() if case.reported_at else None,
        "deadline_required": deadline.required,
        "deadline_hours": deadline.hours,
        "due": deadline.due.isoformat() if deadline.due else None,
        "deadline_state": deadline.state,
        "source": f"soc:cases/{case.id}",
    }


def incident_detail(session: Session, case_id: int, now: datetime) -> dict[str, Any] | None:
    """A case with its alerts and timeline (for ``tulou report incident``), or None."""
    case = session.get(Case, case_id)
    if case is None:
        return None
    record = incident_record(case, now)
    rows = session.execute(
        select(Alert, RuleInfo.title)
        .outerjoin(RuleInfo, RuleInfo.rule_id == Alert.rule_id)
        .where(Alert.case_id == case_id)
        .order_by(Alert.id)
    ).all()
    record["alerts"] = [
        {
            "id": a.id,
            "rule_id": a.rule_id,
            # The rule's title from the catalogue (a reader cannot use a UUID), else the alert's.
            "rule_title": rule_title or a.title,
            "title": a.title,
            "severity": a.severity,
            "first_seen": a.first_seen.isoformat(),
        }
        for a, rule_title in rows
    ]
    timeline = session.execute(
        select(TimelineEntry).where(TimelineEntry.case_id == case_id).order_by(TimelineEntry.at)
    ).scalars()
    record["timeline"] = [
        {"at": t.at.isoformat(), "actor": t.actor, "kind": t.kind, "text": t.text} for t in timeline
    ]
    return record


def _minutes(pairs: list[tuple[datetime, datetime]]) -> float | None:
    if not pairs:
        return None
    return round(fmean((end - start).total_seconds() / 60 for start, end in pairs), 1)


class SocCollector:
    id: str = "soc"
    keys: tuple[str, ...] = KEYS

    def __init__(
        self, database: Database, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.database = database
        self.now = now

    def collect(self, period: Period) -> list[Evidence]:
        try:
            with self.database.read() as session:
                return [
                    self._incidents(session, period),
                    self._response(session, period),
                    self._roles(session),
                    self._audit(session),
                ]
        except SQLAlchemyError as exc:
            problem = _("SOC database unreadable: {kind}").format(kind=type(exc).__name__)
            return [Evidence.unavailable(k, self.id, problem) for k in KEYS]

    def _incidents(self, session: Session, period: Period) -> Evidence:
        now = self.now()
        cases = (
            session.execute(
                select(Case)
                .where(Case.detected_at >= period.start, Case.detected_at < period.end)
                .order_by(Case.detected_at)
            )
            .scalars()
            .all()
        )
        records = [incident_record(c, now) for c in cases]
        states = Counter(r["deadline_state"] for r in records)
        facts = {
            "total": len(records),
            "by_grade": {g: sum(1 for r in records if r["grade"] == g) for g in grading.GRADES},
            "by_category": dict(Counter(r["category"] for r in records)),
            "reportable": sum(
                1 for r in records if r["deadline_required"] and r["deadline_state"] != "pending"
            ),
            "pending": states.get("pending", 0),
            "on_time": states.get("met", 0),
            "late": states.get("missed", 0),
            "unreported": states.get("overdue", 0),
            "incidents": records,
        }
        shown = tuple(
            excerpt(
                _("case {id}").format(id=r["id"]),
                r["source"],
                json.dumps({k: r[k] for k in _CASE_SHOWN}, ensure_ascii=False, indent=1),
            )
            for r in records
        )
        return Evidence(
            "soc.incidents", self.id, "Incidents (GB/T 20986)", facts, shown, vouched_by=CHAIN
        )

    def _response(self, session: Session, period: Period) -> Evidence:
        alerts = (
            session.execute(
                select(Alert).where(Alert.created_at >= period.start, Alert.created_at < period.end)
            )
            .scalars()
            .all()
        )
        ack = [(a.created_at, a.acknowledged_at) for a in alerts if a.acknowledged_at]
        res = [(a.created_at, a.resolved_at) for a in alerts if a.resolved_at]
        facts = {
            "alerts": len(alerts),
            "by_severity": dict(Counter(a.severity for a in alerts)),
            "acknowledged": len(ack),
            "resolved": len(res),
            "mtta_minutes": _minutes(ack),
            "mttr_minutes": _minutes(res),
        }
        return Evidence(
            "soc.response",
            self.id,
            "Alert response times",
            facts,
            (
                excerpt(
                    _("alerts created in the period"),
                    "soc:alerts",
                    json.dumps(facts, ensure_ascii=False, indent=1, sort_keys=True),
                ),
            ),
            vouched_by=CHAIN,
        )

    def _roles(self, session: Session) -> Evidence:
        users = session.execute(select(User).where(User.active.is_(True))).scalars().all()
        counts = Counter(u.role for u in users)
        human = ("admin", "analyst", "officer", "regulator")
        facts = {
            **{role: counts.get(role, 0) for role in human},
            "service": counts.get("service", 0),
            "distinct_roles": sum(1 for role in human if counts.get(role)),
        }
        return Evidence(
            "soc.roles",
            self.id,
            "SOC accounts by role",
            facts,
            (
                excerpt(
                    _("active accounts by role"),
                    "soc:users",
                    json.dumps(
                        {
                            role: sorted(u.username for u in users if u.role == role)
                            for role in sorted(counts)
                        },
                        ensure_ascii=False,
                        indent=1,
                    ),
                ),
            ),
            vouched_by=CHAIN,
        )

    def _audit(self, session: Session) -> Evidence:
        verdict = audit.verify(session, audit.sm3_hash())
        facts = verdict.to_dict()
        facts["checked"] = verdict.checked
        return Evidence(
            "soc.audit_chain",
            self.id,
            "SOC audit trail (SM3 chain)",
            facts,
            (
                excerpt(
                    _("audit chain verification"),
                    "soc:audit",
                    json.dumps(facts, ensure_ascii=False, indent=1, sort_keys=True, default=str),
                ),
            ),
            vouched_by=CHAIN,
        )
