"""Server-rendered web UI: login, the alert queue, alert detail with raw events, the dashboard.

Pages use the same role aliases as the API (:mod:`soc.deps`), so a role sees exactly the pages
whose API it may call. Forms post with the session's CSRF token and redirect back (303) on
success; an error (a stale version, a move the workflow refuses) renders an error page that
says what happened. Case pages live in :mod:`soc.web.case_pages`.
"""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from soc import auth, evidence, grading, metrics, queue, triage
from soc.deps import (
    SESSION_COOKIE,
    AsAnalyst,
    AsAnyone,
    AsOfficer,
    AsRegulator,
    AsStaff,
    ReadSession,
    RuntimeDep,
    WriteSession,
)
from soc.errors import AuthenticationError
from soc.models import User, utcnow
from soc.schemas import MAX_ID, IdPath
from soc.web import charts
from soc.workflow import CLOSING_REASONS, TRANSITIONS
from tulou.errors import PolicyDeniedError

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "tulou_login_csrf"
LANDING = {
    "analyst": "/alerts",
    "admin": "/alerts",
    "officer": "/drills",
    "regulator": "/reports",
    "service": "/api/v1/me",
}


@cache
def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def render(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    return templates().TemplateResponse(request, name, context, status_code=http_status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(
        request, "error.html", http_status=status, status_code=status, message=message, who=None
    )


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, rt: RuntimeDep, failed: bool = False) -> Response:
    # Login CSRF: a random value in a cookie and in the form (double submit), so another site
    # cannot log a victim's browser into an attacker's account.
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", csrf_token=token, failed=failed, who=None)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=rt.cookie_secure,
        path="/login",
    )
    return response


@router.post("/login")
def login(
    *,
    request: Request,
    rt: RuntimeDep,
    session: WriteSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)],
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise PolicyDeniedError("the login form expired: reload the page and try again")
    try:
        token, user = auth.login(session, username, password, hours=rt.session_hours)
    except AuthenticationError:
        return back("/login?failed=true")
    response = back(LANDING.get(user.role, "/alerts"))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=rt.cookie_secure,
        max_age=rt.session_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, who: AsAnyone, session: WriteSession) -> Response:
    auth.logout(session, request.cookies.get(SESSION_COOKIE, ""))
    response = back("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(who: AsAnyone) -> Response:
    return back(LANDING.get(who.role, "/login"))


@router.get("/alerts", response_class=HTMLResponse)
def alert_queue(
    *,
    request: Request,
    who: AsAnalyst,
    session: ReadSession,
    status: str = "",
    severity: str = "",
    rule_id: str = "",
    cursor: str | None = None,
) -> Response:
    flt = queue.QueueFilter(
        status=(status,) if status else (),
        severity=(severity,) if severity else (),
        rule_id=rule_id or None,
    )
    rows, next_cursor = queue.page(session, flt, limit=50, cursor=cursor)
    from soc.api.alerts import public  # noqa: PLC0415 - shared presenter

    return render(
        request,
        "alerts.html",
        who=who,
        alerts=public(session, rows),
        next_cursor=next_cursor,
        status=status,
        severity=severity,
        rule_id=rule_id,
        statuses=list(TRANSITIONS),
        severities=list(triage.SEVERITY_RANK),
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request, alert_id: IdPath, who: AsAnalyst, session: ReadSession, rt: RuntimeDep
) -> Response:
    alert = triage.get(session, alert_id)
    from soc.api.alerts import public  # noqa: PLC0415 - shared presenter

    ids = triage.event_ids(session, alert_id, evidence.MAX_EVIDENCE)
    analysts = session.scalars(
        select(User.username).where(User.role.in_(("analyst", "admin")), User.active.is_(True))
    ).all()
    return render(
        request,
        "alert.html",
        who=who,
        alert=public(session, [alert])[0],
        fields=alert.fields,
        description=alert.description,
        moves=sorted(TRANSITIONS[alert.status]),
        reasons=CLOSING_REASONS,
        comments=triage.comments(session, alert_id),
        events=rt.events.fetch(ids),
        requested=len(ids),
        analysts=analysts,
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
    version: Annotated[int, Form(ge=1, le=MAX_ID)],
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    alert = triage.assign(
        session, rt.hash_fn, who, alert_id, assignee=assignee or None, expected_version=version
    )
    if assignee:
        rt.notifier.send(
            {
                "event": "alert.assigned",
                "alert_id": alert_id,
                "title": alert.title,
                "severity": alert.severity,
                "assignee": assignee,
                "by": who.username,
            }
        )
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


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, who: AsStaff, session: ReadSession, rt: RuntimeDep, days: int = 7
) -> Response:
    window = max(1, min(days, 366))
    data = rt.metrics_cache.get(
        window, lambda: metrics.compute(session, now=utcnow(), days=window, sla=rt.sla_targets)
    )
    volume = [(b["bucket"], b["alerts"]) for b in data["volume"]["buckets"]]
    top = [(r["rule_id"], r["alerts"]) for r in data["top_rules"]]
    fp = [(r["rule_id"], round(100 * r["fp_rate"], 1)) for r in data["false_positive_rates"]]
    return render(
        request,
        "dashboard.html",
        who=who,
        m=data,
        days=days,
        volume_chart=charts.bars(volume),
        top_chart=charts.hbars(top),
        fp_chart=charts.hbars(fp, unit="%"),
    )


@router.get("/drills", response_class=HTMLResponse)
def drills(request: Request, who: AsOfficer) -> Response:
    return render(
        request,
        "placeholder.html",
        who=who,
        title="Disaster-recovery drills",
        text="Drill schedules and measured RTO/RPO appear here once backups run.",
    )


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, who: AsRegulator) -> Response:
    return render(
        request,
        "placeholder.html",
        who=who,
        title="Compliance reports",
        text="Signed compliance reports appear here once they are generated.",
    )
