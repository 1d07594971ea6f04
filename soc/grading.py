"""Incident category and grade (GB/T 20986-2023) and the reporting deadline they imply.

Grades, most severe first: 特别重大 (I), 重大 (II), 较大 (III), 一般 (IV). The reporting
deadline follows the CAC incident-reporting rules (网络安全事件报告管理办法): an incident of
grade 较大 or above must be reported within 1 hour by operators of critical information
infrastructure, within 2 hours by Party and government bodies, and within 4 hours by other
operators; a 一般 incident has no mandatory external reporting deadline. The clock starts at
the case's ``detected_at``. The table is data (:data:`DEADLINE_HOURS`) so a change in the rules
is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from soc.i18n import _
from tulou.errors import UsageError

#: GB/T 20986-2023 top-level categories: id -> Chinese name.
CATEGORIES: dict[str, str] = {
    "malware": "恶意程序事件",
    "network_attack": "网络攻击事件",
    "data_security": "数据安全事件",
    "information_content": "信息内容安全事件",
    "equipment_failure": "设备设施故障事件",
    "violation": "违规操作事件",
    "vulnerability": "安全隐患事件",
    "abnormal_behaviour": "异常行为事件",
    "force_majeure": "不可抗力事件",
    "other": "其他事件",
}

#: Grades, most severe first.
GRADES: tuple[str, ...] = ("特别重大", "重大", "较大", "一般")

#: The kind of system the incident hit -> hours to report a reportable incident.
DEADLINE_HOURS: dict[str, int] = {"cii": 1, "government": 2, "other": 4}
SYSTEM_CLASSES = tuple(DEADLINE_HOURS)

#: Grades that must be reported.
REPORTABLE: frozenset[str] = frozenset({"特别重大", "重大", "较大"})


def check(category: str, grade: str, system_class: str) -> None:
    if category not in CATEGORIES:
        raise UsageError(
            _("unknown incident category {value!r}; one of {names}").format(
                value=category, names=", ".join(CATEGORIES)
            )
        )
    if grade not in GRADES:
        raise UsageError(
            _("unknown incident grade {value!r}; one of {names}").format(
                value=grade, names=", ".join(GRADES)
            )
        )
    if system_class not in DEADLINE_HOURS:
        raise UsageError(
            _("unknown system class {value!r}; one of {names}").format(
                value=system_class, names=", ".join(SYSTEM_CLASSES)
            )
        )


@dataclass(frozen=True, slots=True)
class Deadline:
    """Whether and by when a case must be reported, and how it went."""

    required: bool
    hours: int | None
    due: datetime | None
    state: str  # "not_required" | "pending" | "met" | "missed" | "overdue"


def deadline(
    grade: str,
    system_class: str,
    detected_at: datetime,
    reported_at: datetime | None,
    now: datetime,
) -> Deadline:
    """The reporting deadline of a case and its state at ``now``."""
    if grade not in REPORTABLE:
        return Deadline(False, None, None, "not_required")
    hours = DEADLINE_HOURS[system_class]
    due = detected_at + timedelta(hours=hours)
    if reported_at is not None:
        return Deadline(True, hours, due, "met" if reported_at <= due else "missed")
    return Deadline(True, hours, due, "pending" if now <= due else "overdue")
