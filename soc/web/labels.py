"""Display names of the values the UI shows (statuses, severities, reasons, ...), for translation.

The stored values stay English identifiers (the API speaks them); pages show ``label(kind, v)``,
the translated name, falling back to the value itself for anything not listed.
"""

from __future__ import annotations

from soc.i18n import N_, _

LABELS: dict[str, dict[str, str]] = {
    "status": {
        "new": N_("new"),
        "acknowledged": N_("acknowledged"),
        "investigating": N_("investigating"),
        "resolved": N_("resolved"),
    },
    "severity": {
        "informational": N_("informational"),
        "low": N_("low"),
        "medium": N_("medium"),
        "high": N_("high"),
        "critical": N_("critical"),
    },
    "reason": {
        "true_positive": N_("true positive"),
        "benign_true_positive": N_("benign true positive"),
        "false_positive": N_("false positive"),
        "duplicate": N_("duplicate"),
    },
    "move": {
        "acknowledged": N_("Acknowledge"),
        "investigating": N_("Investigate"),
        "resolved": N_("Resolve"),
    },
    "case_status": {"open": N_("open"), "closed": N_("closed")},
    "system_class": {
        "cii": N_("critical information infrastructure"),
        "government": N_("Party and government body"),
        "other": N_("other operator"),
    },
    "deadline": {
        "pending": N_("pending"),
        "overdue": N_("overdue"),
        "met": N_("met"),
        "missed": N_("missed"),
        "not_required": N_("not required"),
    },
    "drill": {
        "passed": N_("passed"),
        "failed": N_("failed"),
        "missed_objective": N_("missed its objective"),
    },
    "report": {
        "compliance": N_("compliance"),
        "incident": N_("incident"),
        "drill": N_("drill"),
    },
    "granularity": {"hour": N_("hour"), "day": N_("day")},
    "coverage": {
        "covered_and_fired": N_("covered and fired"),
        "covered": N_("covered"),
        "fired_uncovered": N_("fired, not covered"),
    },
    "role": {
        "analyst": N_("analyst"),
        "officer": N_("officer"),
        "regulator": N_("regulator"),
        "admin": N_("admin"),
        "service": N_("service"),
    },
    "timeline": {
        "created": N_("created"),
        "linked": N_("linked"),
        "observable": N_("observable"),
        "task": N_("task"),
        "task_done": N_("task done"),
        "note": N_("note"),
        "updated": N_("updated"),
        "closed": N_("closed"),
        "owner": N_("owner"),
    },
}


def label(kind: str, value: object) -> str:
    """The translated display name of ``value`` (a status, a severity, ...)."""
    if value is None:
        return "—"
    text = str(value)
    msgid = LABELS.get(kind, {}).get(text)
    return _(msgid) if msgid is not None else text
