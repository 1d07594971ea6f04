"""Alert pages: the queue (search language, filters, bulk actions), one alert, its actions."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from soc import evidence, grading, grouping, pivot, query, query_sql, queue, searches, triage
from soc.api.alerts import public
from soc.deps import AsAnalyst, ReadSession, RuntimeDep, WriteSession
from soc.entities import DISPLAY
from soc.i18n import _
from soc.models import Alert, RuleInfo, User, utcnow
from soc.notifications import assignment_messages
from soc.schemas import MAX_ID, IdPath
from soc.web.pages import back
from soc.web.rendering import render
from soc.workflow import CLOSING_REASONS, TRANSITIONS
from tulou.errors import UsageError

router = APIRouter(include_in_schema=False)
PAGE = 50
#: grouping's ``by`` -> the entity column (soc.entities.DISPLAY)
BY_COLUMN = {
    "host": "host",
    "source_ip": "source_ip",
    "destination_ip": "destination_ip",
    "user": "user_name",
    "process": "process_name",
    "domain": "url_domain",
}


def analysts(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(User.username)
            .where(User.role.in_(("analyst", "admin")), User.active.is_(True))
            .order_by(User.username)
        )
    )


def rule_titles(session: Session, rule_ids: set[str]) -> dict[str, str]:
    if not rule_ids:
        return {}
    rows = session.execute(
        select(RuleInfo.rule_id, RuleInfo.title).where(RuleInfo.rule_id.in_(rule_ids))
    )
    return {rule_id: title for rule_id, title in rows}


@router.get("/alerts", response_class=HTMLResponse)
def alert_queue(
    *,
    request: Request,
    who: AsAnalyst,
    session: ReadSession,
    q: Annotated[str, Query(max_length=query.MAX_LENGTH)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    severity: Annotated[str, Query(max_length=32)] = "",
    rule: Annotated[str, Query(max_length=512)] = "",
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    if status and status not in TRANSITIONS:
        raise UsageError(_("unknown status {value!r}").format(value=status))
    extra = []
    if q:
        extra.append(query_sql.condition(query.parse(q), utcnow()))
    if rule:
        term = query.Term("rule", rule, quoted=" " in rule)
        extra.append(query_sql.condition(term, utcnow()))
    flt = queue.QueueFilter(
        status=(status,) if status else (),
        severity=(severity,) if severity else (),
        extra=tuple(extra),
    )
    rows, next_cursor = queue.page(session, flt, limit=PAGE, cursor=cursor)
    items = public(session, rows)
    shown = {"q": q, "status": status, "severity": severity, "rule": rule}
    context: dict[str, Any] = dict(shown)
    return render(
        request,
        "alerts.html",
        who=who,
        alerts=items,
        rule_titles=rule_titles(session, {a.rule_id for a in items}),
        next_cursor=next_cursor,
        page_query=urlencode({k: v for k, v in shown.items() if v}),
        statuses=list(TRANSITIONS),
        severities=list(triage.SEVERITY_RANK),
        reasons=CLOSING_REASONS,
        analysts=analysts(session),
        saved=searches.listing(session, who.user_id, "alerts"),
        **context,
    )


def entity_rows(alert: Alert) -> list[tuple[str, dict[str, str] | None]]:
    rows: list[tuple[str, dict[str, str] | None]] = []
    for column, (name, field) in DISPLAY.items():
        value = getattr(alert, column)
        shown = None
        if value is not None:
            shown = {"text": value, "query": query.render(query.Term(field, value, quoted=True))}
        rows.append((_(name), shown))
    return rows


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request, alert_id: IdPath, who: AsAnalyst, session: ReadSession, rt: RuntimeDep
) -> Response:
    alert = triage.get(session, alert_id)
    ids = triage.event_ids(session, alert_id, evidence.MAX_EVIDENCE)
    events = rt.events.fetch(ids)
    related = pivot.related(session, alert)
    return render(
        request,
        "alert.html",
        who=who,
        alert=public(session, [alert])[0],
        rule_title=rule_titles(session, {alert.rule_id}).get(alert.rule_id),
        entities=entity_rows(alert),
        fields=alert.fields,
        description=alert.description,
        moves=sorted(TRANSITIONS[alert.status]),
        reasons=CLOSING_REASONS,
        comments=triage.comments(session, alert_id),
        events=events,
        requested=len(ids),
        related=related,
        timeline=pivot.timeline(session, alert, events, related),
        analysts=analysts(session),
        categories=grading.CATEGORIES,
        grades=grading.GRADES,
        system_classes=grading.SYSTEM_CLASSES,
    )


@router.post("/alerts/{alert_id}/transition")
def alert_transition(
    *,
    alert_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    status: Annotated[str, Form(max_length=32)],
    version: Annotated[int, Form(ge=1, le=MAX_ID)],
    reason: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    triage.transition(
        session,
        rt.hash_fn,
        who,
        alert_id,
        status=status,
        reason=reason or None,
        expected_version=version,
    )
    return back(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id}/assign")
def alert_assign(
    *,
    alert_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    background: BackgroundTasks,
    version: Annotated[int, Form(ge=1, le=MAX_ID)],
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    alert = triage.assign(
        session, rt.hash_fn, who, alert_id, assignee=assignee or None, expected_version=version
    )
    if assignee:
        for message in assignment_messages(session, [alert], assignee, who.username):
            background.add_task(rt.notifier.send, message)
    return back(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id}/comment")
def alert_comment(
    alert_id: IdPath,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    body: Annotated[str, Form(max_length=20_000)],
) -> Response:
    triage.comment(session, rt.hash_fn, who, alert_id, body)
    return back(f"/alerts/{alert_id}")


def parse_items(values: list[str]) -> list[tuple[int, int]]:
    """``["12:3", ...]`` (alert id : the version the page showed) -> [(12, 3), ...]."""
    items: list[tuple[int, int]] = []
    for value in values:
        ident, _sep, version = value.partition(":")
        if not (ident.isdigit() and version.isdigit()) or len(value) > 40:
            raise UsageError(_("a selected alert is id:version, got {value!r}").format(value=value))
        items.append((int(ident), int(version)))
    if not items:
        raise UsageError(_("select at least one alert"))
    if len(items) > queue.MAX_LIMIT:
        raise UsageError(_("at most {n} alerts at once").format(n=queue.MAX_LIMIT))
    return items


@router.post("/alerts/bulk", response_class=HTMLResponse)
def alert_bulk(
    *,
    request: Request,
    who: AsAnalyst,
    session: WriteSession,
    rt: RuntimeDep,
    background: BackgroundTasks,
    action: Annotated[str, Form(max_length=32)],
    item: Annotated[list[str], Form(max_length=queue.MAX_LIMIT)],
    reason: Annotated[str, Form(max_length=32)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """One action on the selected alerts, each at the version the page showed (a colleague's
    change in between makes that alert fail, not vanish): the page lists every result."""
    items = parse_items(item)
    kwargs: dict[str, Any] = {}
    if action in TRANSITIONS:
        kwargs = {"status": action, "reason": reason or None}
    elif action == "assign":
        if not assignee:
            raise UsageError(_("choose the analyst to assign to"))
        kwargs = {"assignee": assignee}
    elif action == "unassign":
        kwargs = {"unassign": True}
    else:
        raise UsageError(_("unknown bulk action {action!r}").format(action=action))
    results = triage.bulk(session, rt.hash_fn, who, items, **kwargs)
    if action == "assign":
        done = [r["id"] for r in results if r["ok"]]
        alerts = list(session.scalars(select(Alert).where(Alert.id.in_(done))))
        for message in assignment_messages(session, alerts, assignee, who.username):
            background.add_task(rt.notifier.send, message)
    return render(request, "bulk_result.html", who=who, results=results, action=action)


@router.get("/groups", response_class=HTMLResponse)
def alert_groups_page(
    *,
    request: Request,
    who: AsAnalyst,
    session: ReadSession,
    by: Annotated[str, Query(pattern="^(host|source_ip|destination_ip|user|process|domain)$")] = (
        "source_ip"
    ),
    window: Annotated[str, Query(pattern="^(hour|day)$")] = "hour",
    q: Annotated[str, Query(max_length=query.MAX_LENGTH)] = "",
) -> Response:
    """Alerts grouped by rule and entity per hour or day (soc.grouping)."""
    where = (query_sql.condition(query.parse(q), utcnow()),) if q else ()
    found = grouping.groups(session, by=by, window=window, where=where)
    return render(
        request,
        "groups.html",
        who=who,
        groups=found,
        by=by,
        window=window,
        q=q,
        options=[
            (key, _(DISPLAY[column][0]), DISPLAY[column][1]) for key, column in BY_COLUMN.items()
        ],
        rule_titles=rule_titles(session, {g.rule_id for g in found}),
    )
