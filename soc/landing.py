"""What the officer's and the regulator's landing pages list: drill records and reports on disk.

Drill records are the files ``tulou drill run`` writes under ``<data_dir>/backup/drills``, read
through their contract (``tulou.contracts.drill``, format ``tulou-drill-record/1``); reports are
the directories ``tulou report`` writes, each with a ``report.json`` and a signed manifest,
found under ``<data_dir>/reports``.
The pages only list them (newest first) and show their outcome; verification stays with
``tulou backup drill verify`` / ``tulou report verify``. A file that cannot be read is listed
as a problem with its reason, never skipped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tulou.contracts import drill
from tulou.errors import TulouError
from tulou.events import parse_timestamp

MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class DrillRow:
    name: str
    scenario: str
    outcome: str
    started: datetime | None
    rto_seconds: float | None
    rto_met: bool | None
    rpo_seconds: float | None
    rpo_met: bool | None
    signed: bool


@dataclass(frozen=True, slots=True)
class ReportRow:
    name: str
    kind: str
    #: {"zh": ..., "en": ...} as the report document holds it
    titles: dict[str, str]
    generated: datetime | None
    signed: bool


def _time(value: Any) -> datetime | None:
    try:
        return parse_timestamp(str(value)) if value else None
    except ValueError:
        return None


def drill_records(data_dir: Path | None) -> tuple[list[DrillRow], list[str]]:
    """The drill records (tulou.contracts.drill: the one reader of the format), newest first."""
    if data_dir is None:
        return [], []
    rows: list[DrillRow] = []
    problems: list[str] = []
    for path in drill.files(drill.directory(data_dir)):
        try:
            record = drill.parse(drill.read(path))
        except TulouError as exc:
            problems.append(f"{path.name}: {exc.message}")
            continue
        rows.append(
            DrillRow(
                name=path.name,
                scenario=record.scenario,
                outcome=record.outcome,
                started=record.started,
                rto_seconds=record.rto.achieved_seconds,
                rto_met=record.rto.met,
                rpo_seconds=record.rpo.achieved_seconds,
                rpo_met=record.rpo.met,
                signed="signature" in record.document,
            )
        )
    rows.sort(key=lambda r: (r.started is None, r.started), reverse=True)
    return rows[:MAX_LISTED], problems


def _titles(value: Any, fallback: str) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    text = str(value) if value else fallback
    return {"zh": text, "en": text}


def reports(data_dir: Path | None) -> tuple[list[ReportRow], list[str]]:
    if data_dir is None:
        return [], []
    folder = data_dir / "reports"
    rows: list[ReportRow] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*/report.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            problems.append(f"{path.parent.name}: {exc}")
            continue
        rows.append(
            ReportRow(
                name=path.parent.name,
                kind=str(doc.get("kind", "?")),
                titles=_titles(doc.get("title"), path.parent.name),
                generated=_time(doc.get("generated_at") or doc.get("generated")),
                signed=(path.parent / "report.sig.json").is_file(),
            )
        )
    rows.sort(key=lambda r: (r.generated is None, r.generated), reverse=True)
    return rows[:MAX_LISTED], problems
