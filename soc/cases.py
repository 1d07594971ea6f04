"""Cases: incidents built from alerts, with observables, tasks, a timeline and a GB/T 20986 grade.

A case is created from one or more alerts (``detected_at`` = the earliest first-seen of them),
more alerts can be linked later, and every change writes a timeline entry and an audit record
in the same transaction. Grade and category changes are conditional on the case version
(optimistic concurrency, like alerts). The reporting deadline is derived, never stored
(:func:`soc.grading.deadline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from soc import audit, grading
from soc.auth import Principal
from soc.errors import ConflictError
from soc.models import Alert, Case, CaseTask, Observable, TimelineEntry, utcnow
from tulou.errors import NotFoundError, UsageError

OBSERVABLE_KINDS = ("ip", "domain", "hash", "user", "device", "url", "email")


def get(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    return case


def _note(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    case_id: int,
    *,
    kind: str,
    text: str,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(TimelineEntry(case_id=case_id, actor=actor.username, kind=kind, text=text))
    audit.append(
        session,
        hash_fn,
        actor=actor.username,
        action=f"case.{kind}",
        target=f"case:{case_id}",
        detail=detail or {"text": text},
    )


def create(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    *,
    title: str,
    alert_ids: Sequence[int],
    category: str,
    grade: str,
    system_class: str,
    description: str = "",
) -> Case:
    grading.check(category, grade, system_class)
    if not title.strip():
        raise UsageError("a case needs a title")
    alerts = _alerts(session, alert_ids)
    detected = min((a.first_seen for a in alerts), default=utcnow())
    case = Case(
        title=title.strip(),
        description=description,
        category=category,
        grade=grade,
        system_class=system_class,
        detected_at=detected,
        created_by=actor.user_id,
        status="open",
        version=1,
    )
    session.add(case)
    session.flush()
    for alert in alerts:
        alert.case_id = case.id
    _note(
        session,
        hash_fn,
        actor,
        case.id,
        kind="created",
        text=f"case opened from {len(alerts)} alert(s)",
        detail={"alerts": [a.id for a in alerts], "grade": grade, "category": category},
    )
    return case


def _alerts(session: Session, alert_ids: Sequence[int]) -> list[Alert]:
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(set(alert_ids)))))
    missing = set(alert_ids) - {a.id for a in alerts}
    if missing:
        raise NotFoundError(f"no alert {min(missing)}")
    return alerts


def link_alerts(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    case_id: int,
    alert_ids: Sequence[int],
) -> None:
    case = get(session, case_id)
    alerts = _alerts(session, alert_ids)
    for alert in alerts:
        if alert.case_id not in (None, case.id):
            raise UsageError(f"alert {alert.id} already belongs to case {alert.case_id}")
        alert.case_id = case.id
    case.detected_at = min([case.detected_at, *(a.first_seen for a in alerts)])
    _note(
        session,
        hash_fn,
        actor,
        case.id,
        kind="linked",
        text=f"linked alert(s) {sorted(alert_ids)}",
        detail={"alerts": sorted(alert_ids)},
    )


def add_observable(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    case_id: int,
    *,
    kind: str,
    value: str,
    note: str = "",
) -> Observable:
    get(session, case_id)
    if kind not in OBSERVABLE_KINDS:
        raise UsageError(f"unknown observable kind {kind!r}; one of {', '.join(OBSERVABLE_KINDS)}")
    value = value.strip()
    if not value:
        raise UsageError("an observable needs a value")
    exists = session.scalar(
        select(Observable).where(
            Observable.case_id == case_id, Observable.kind == kind, Observable.value == value
        )
    )
    if exists is not None:
        return exists
    row = Observable(case_id=case_id, kind=kind, value=value, note=note)
    session.add(row)
    session.flush()
    _note(session, hash_fn, actor, case_id, kind="observable", text=f"{kind} {value}")
    return row


def add_task(
    session: Session, hash_fn: audit.HashFunction, actor: Principal, case_id: int, title: str
) -> CaseTask:
    get(session, case_id)
    if not title.strip():
        raise UsageError("a task needs a title")
    task = CaseTask(case_id=case_id, title=title.strip(), done=False)
    session.add(task)
    session.flush()
    _note(session, hash_fn, actor, case_id, kind="task", text=f"task added: {task.title}")
    return task


def complete_task(
    session: Session, hash_fn: audit.HashFunction, actor: Principal, case_id: int, task_id: int
) -> CaseTask:
    task = session.get(CaseTask, task_id)
    if task is None or task.case_id != case_id:
        raise NotFoundError(f"no task {task_id} in case {case_id}")
    if not task.done:
        task.done = True
        task.done_at = utcnow()
        _note(session, hash_fn, actor, case_id, kind="task_done", text=f"task done: {task.title}")
    return task


def add_note(
    session: Session, hash_fn: audit.HashFunction, actor: Principal, case_id: int, text: str
) -> None:
    get(session, case_id)
    if not text.strip():
        raise UsageError("a note cannot be empty")
    _note(session, hash_fn, actor, case_id, kind="note", text=text.strip())


def update_case(
    session: Session,
    hash_fn: audit.HashFunction,
    actor: Principal,
    case_id: int,
    *,
    expected_version: int,
    changes: dict[str, Any],
) -> Case:
    """Change grade / category / system class / status / reported_at, if the version matches."""
    case = get(session, case_id)
    allowed = {"grade", "category", "system_class", "status", "reported_at", "title"}
    unknown = set(changes) - allowed
    if unknown:
        raise UsageError(f"cannot change {sorted(unknown)[0]!r} on a case")
    grading.check(
        changes.get("category", case.category),
        changes.get("grade", case.grade),
        changes.get("system_class", case.system_class),
    )
    if changes.get("status", case.status) not in ("open", "closed"):
        raise UsageError("a case is open or closed")
    if case.version != expected_version:
        raise ConflictError(
            f"case {case_id} changed since version {expected_version} (now {case.version})",
            current_version=case.version,
        )
    done = session.execute(
        update(Case)
        .where(Case.id == case_id, Case.version == expected_version)
        .values(**changes, version=Case.version + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(case)
        raise ConflictError(
            f"case {case_id} was changed by someone else just now", current_version=case.version
        )
    session.refresh(case)
    shown = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changes.items()}
    _note(
        session,
        hash_fn,
        actor,
        case_id,
        kind="updated",
        text=f"changed {', '.join(sorted(shown))}",
        detail=shown,
    )
    return case


def detail(session: Session, case_id: int) -> dict[str, Any]:
    """Everything the case page shows."""
    case = get(session, case_id)
    due = grading.deadline(
        case.grade, case.system_class, case.detected_at, case.reported_at, utcnow()
    )
    return {
        "case": case,
        "deadline": due,
        "alerts": list(session.scalars(select(Alert).where(Alert.case_id == case_id))),
        "observables": list(
            session.scalars(
                select(Observable).where(Observable.case_id == case_id).order_by(Observable.id)
            )
        ),
        "tasks": list(
            session.scalars(
                select(CaseTask).where(CaseTask.case_id == case_id).order_by(CaseTask.id)
            )
        ),
        "timeline": list(
            session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.case_id == case_id)
                .order_by(TimelineEntry.at, TimelineEntry.id)
            )
        ),
    }


def listing(session: Session, limit: int = 200) -> list[Case]:
    return list(session.scalars(select(Case).order_by(Case.id.desc()).limit(limit)))
