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

from soc import audit, grading, observables
from soc.auth import Principal, find_user
from soc.case_templates import TEMPLATES
from soc.errors import ConflictError
from soc.i18n import _
from soc.models import Alert, Case, CaseTask, Observable, TimelineEntry, User, utcnow
from soc.workflow import CLOSING_REASONS
from tulou import i18n
from tulou.errors import NotFoundError, UsageError

OBSERVABLE_KINDS = observables.KINDS


def recorded(msgid: str) -> str:
    """``msgid`` in the language of record (Simplified Chinese): what a case's timeline keeps,
    whoever wrote it, as the incident report to the regulator quotes it."""
    with i18n.using(i18n.DEFAULT_LOCALE):
        return _(msgid)


def get(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(_("no case {id}").format(id=case_id))
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
        raise UsageError(_("a case needs a title"))
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
        text=recorded("case opened from {n} alert(s)").format(n=len(alerts)),
        detail={"alerts": [a.id for a in alerts], "grade": grade, "category": category},
    )
    return case


def _alerts(session: Session, alert_ids: Sequence[int]) -> list[Alert]:
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(set(alert_ids)))))
    missing = set(alert_ids) - {a.id for a in alerts}
    if missing:
        raise NotFoundError(_("no alert {id}").format(id=min(missing)))
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
            raise UsageError(
                _("alert {alert} already belongs to case {case}").format(
                    alert=alert.id, case=alert.case_id
                )
            )
        alert.case_id = case.id
    case.detected_at = min([case.detected_at, *(a.first_seen for a in alerts)])
    _note(
        session,
        hash_fn,
        actor,
        case.id,
        kind="linked",
        text=recorded("linked alert(s) {ids}").format(ids=", ".join(map(str, sorted(alert_ids)))),
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
    kind, value = observables.normalise(kind, value)
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
        raise UsageError(_("a task needs a title"))
    task = CaseTask(case_id=case_id, title=title.strip(), done=False)
    session.add(task)
    session.flush()
    _note(
        session,
        hash_fn,
        actor,
        case_id,
        kind="task",
        text=recorded("task added: {title}").format(title=task.title),
    )
    return task


def complete_task(
    session: Session, hash_fn: audit.HashFunction, actor: Principal, case_id: int, task_id: int
) -> CaseTask:
    task = session.get(CaseTask, task_id)
    if task is None or task.case_id != case_id:
        raise NotFoundError(_("no task {task} in case {case}").format(task=task_id, case=case_id))
    if not task.done:
        task.done = True
        task.done_at = utcnow()
        _note(
            session,
            hash_fn,
            actor,
            case_id,
            kind="task_done",
            text=recorded("task done: {title}").format(title=task.title),
        )
    return task


def add_note(
    session: Session, hash_fn: audit.HashFunction, actor: Principal, case_id: int, text: str
) -> None:
    get(session, case_id)
    if not text.strip():
        raise UsageError(_("a note cannot be empty"))
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
    """Change grade / category / system class / status / reported_at / owner, if the version
    matches. Closing needs a closing reason (and keeps it); reopening clears it. ``owner`` is a
    user name (an active analyst or admin) or None."""
    case = get(session, case_id)
    changes = dict(changes)
    allowed = {
        "grade",
        "category",
        "system_class",
        "status",
        "reported_at",
        "title",
        "closing_reason",
        "owner",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise UsageError(_("cannot change {field!r} on a case").format(field=sorted(unknown)[0]))
    grading.check(
        changes.get("category", case.category),
        changes.get("grade", case.grade),
        changes.get("system_class", case.system_class),
    )
    status = changes.get("status", case.status)
    if status not in ("open", "closed"):
        raise UsageError(_("a case is open or closed"))
    if case.version != expected_version:
        raise ConflictError(
            _("case {case} changed since version {version} (now {now})").format(
                case=case_id, version=expected_version, now=case.version
            ),
            current_version=case.version,
        )
    reason = changes.get("closing_reason", case.closing_reason if status == "closed" else None)
    if status == "closed":
        if reason not in CLOSING_REASONS:
            raise UsageError(
                _("closing a case needs a closing reason: one of {reasons}").format(
                    reasons=", ".join(CLOSING_REASONS)
                )
            )
        if case.status != "closed":
            changes["closed_at"] = utcnow()
        changes["closing_reason"] = reason
    elif "closing_reason" in changes and changes["closing_reason"] is not None:
        raise UsageError(_("only closing a case takes a closing reason"))
    elif case.status == "closed":
        changes["closing_reason"] = None
        changes["closed_at"] = None
    if "owner" in changes:
        owner = changes.pop("owner")
        owner_id = None
        if owner is not None:
            user = find_user(session, owner)
            if user.role not in ("analyst", "admin") or not user.active:
                raise UsageError(_("{name!r} is not an active analyst").format(name=owner))
            owner_id = user.id
        changes["owner_id"] = owner_id
    done = session.execute(
        update(Case)
        .where(Case.id == case_id, Case.version == expected_version)
        .values(**changes, version=Case.version + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(case)
        raise ConflictError(
            _("case {case} was changed by someone else just now").format(case=case_id),
            current_version=case.version,
        )
    session.refresh(case)
    shown = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changes.items()}
    kind = "closed" if status == "closed" and "closed_at" in changes else "updated"
    _note(
        session,
        hash_fn,
        actor,
        case_id,
        kind=kind,
        text=", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if k != "closed_at"),
        detail=shown,
    )
    return case


def apply_template(
    session: Session, hash_fn: audit.HashFunction, actor: Principal, case_id: int, template: str
) -> list[CaseTask]:
    """Add the template's tasks (in the language of record: Chinese) not yet present."""
    get(session, case_id)
    if template not in TEMPLATES:
        raise UsageError(_("unknown case template {name!r}").format(name=template))
    have = set(session.scalars(select(CaseTask.title).where(CaseTask.case_id == case_id)))
    added = []
    for msgid in TEMPLATES[template]:
        title = recorded(msgid)
        if title in have:
            continue
        added.append(add_task(session, hash_fn, actor, case_id, title))
        have.add(title)
    return added


def owner_name(session: Session, case: Case) -> str | None:
    if case.owner_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == case.owner_id))


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


def owners(session: Session, listed: Sequence[Case]) -> dict[int, str]:
    ids = {c.owner_id for c in listed if c.owner_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
