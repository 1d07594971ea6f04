"""Reporting periods: ``2026-Q4``, ``2026-11``, ``2026`` or ``2026-10-01..2026-12-31``.

A period is a half-open UTC interval ``[start, end)``; its ``label`` is what the user typed,
normalised. Bad input raises :class:`tulou.errors.UsageError` naming the accepted forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tulou.errors import UsageError

_FORMS = "YYYY-Qn, YYYY-MM, YYYY or YYYY-MM-DD..YYYY-MM-DD"


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC interval ``[start, end)`` with a label for people."""

    label: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise UsageError("period bounds must be timezone-aware")
        if self.end <= self.start:
            raise UsageError(f"period {self.label!r} ends before it starts")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat()}


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError as exc:
        raise UsageError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _month_start(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def parse_period(text: str) -> Period:
    """Parse a period; raises :class:`UsageError` for anything else."""
    value = text.strip()
    if m := re.fullmatch(r"(\d{4})-?[Qq]([1-4])", value):
        year, quarter = int(m[1]), int(m[2])
        start = _month_start(year, 3 * quarter - 2)
        return Period(f"{year}-Q{quarter}", start, _month_start(year, 3 * quarter + 1))
    if m := re.fullmatch(r"(\d{4})-(\d{2})", value):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise UsageError(f"period {text!r}: month must be 01..12")
        return Period(
            f"{year}-{month:02d}", _month_start(year, month), _month_start(year, month + 1)
        )
    if m := re.fullmatch(r"(\d{4})", value):
        year = int(m[1])
        return Period(str(year), _month_start(year, 1), _month_start(year + 1, 1))
    if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", value):
        start, last = _day(m[1]), _day(m[2])
        return Period(f"{m[1]}..{m[2]}", start, last + timedelta(days=1))
    raise UsageError(f"period {text!r} is not one of {_FORMS}")
