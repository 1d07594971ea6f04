"""The report document: one JSON-able dict that is both the machine-readable twin and the input
of the HTML/PDF template, so the two can never disagree.

Schema ``tulou-report/1`` (docs/reports.md): ``schema``, ``kind`` (``compliance`` | ``incident``
| ``drill``), ``title``, ``system``, ``period`` (compliance), ``generated_at``, ``generator``,
then per kind: ``summary`` + ``clauses`` + ``incidents`` + ``drills`` + ``evidence``
(compliance), ``incident`` (incident), ``drill`` (drill).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from compliance.catalogue import Catalogue
from compliance.evidence import EvidenceBag
from compliance.judge import STATUS_ZH, Judgement
from compliance.period import Period

SCHEMA = "tulou-report/1"
STATUS_ORDER = ("met", "partially_met", "not_met", "not_applicable")


@dataclass(frozen=True, slots=True)
class Scope:
    """Who and what the report is about (from the report settings or the command line)."""

    system_name: str = "Tulou city platform"
    operator: str = ""
    mlps_level: int = 3

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.system_name, "operator": self.operator, "mlps_level": self.mlps_level}


def _generator() -> dict[str, str]:
    from tulou import __version__  # noqa: PLC0415 - tiny import, kept next to its one use

    return {"name": "tulou", "version": __version__}


def _facts(bag: EvidenceBag, key: str) -> dict[str, Any]:
    ev = bag.need(key)
    return {"available": ev.available, "problem": ev.problem, **dict(ev.facts)}


def compliance_document(
    *,
    period: Period,
    catalogue: Catalogue,
    bag: EvidenceBag,
    judgements: list[Judgement],
    scope: Scope,
    generated_at: datetime,
) -> dict[str, Any]:
    by_status = Counter(j.status for j in judgements)
    by_standard: dict[str, dict[str, int]] = {}
    for j in judgements:
        counts = by_standard.setdefault(j.clause.standard, dict.fromkeys(STATUS_ORDER, 0))
        counts[j.status] += 1
    return {
        "schema": SCHEMA,
        "kind": "compliance",
        "title": {
            "zh": "网络安全等级保护与商用密码应用合规报告",
            "en": "MLPS 2.0 and commercial cryptography compliance report",
        },
        "system": scope.to_dict(),
        "period": period.to_dict(),
        "generated_at": generated_at.isoformat(),
        "generator": _generator(),
        "standards": [
            {"code": s.code, "title_zh": s.title_zh, "title_en": s.title_en, "level": s.level}
            for s in catalogue.standards.values()
        ],
        "summary": {
            "clauses": len(judgements),
            "by_status": {s: by_status.get(s, 0) for s in STATUS_ORDER},
            "by_standard": by_standard,
            "status_zh": dict(STATUS_ZH),
            "unconfirmed_numbers": sum(
                1 for j in judgements if j.clause.confirmation == "unconfirmed"
            ),
        },
        "clauses": [j.to_dict() for j in judgements],
        "incidents": {
            **_facts(bag, "soc.incidents"),
            "response": _facts(bag, "soc.response"),
        },
        "drills": _facts(bag, "backup.drills"),
        "evidence": [bag[key].to_dict() for key in bag],
    }


def incident_document(
    incident: dict[str, Any], *, scope: Scope, generated_at: datetime
) -> dict[str, Any]:
    """A GB/T 20986 incident report for one SOC case (see ``collectors.soc.incident_detail``)."""
    return {
        "schema": SCHEMA,
        "kind": "incident",
        "title": {"zh": "网络安全事件报告", "en": "Cybersecurity incident report"},
        "system": scope.to_dict(),
        "generated_at": generated_at.isoformat(),
        "generator": _generator(),
        "incident": incident,
    }


def drill_document(
    drill: dict[str, Any], *, scope: Scope, generated_at: datetime
) -> dict[str, Any]:
    """A disaster-recovery drill report (``drill`` from :mod:`compliance.collectors.backup`)."""
    return {
        "schema": SCHEMA,
        "kind": "drill",
        "title": {"zh": "灾难恢复演练报告", "en": "Disaster-recovery drill report"},
        "system": scope.to_dict(),
        "generated_at": generated_at.isoformat(),
        "generator": _generator(),
        "drill": drill,
    }
