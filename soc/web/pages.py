"""Server-rendered web UI: login, own account and language, the dashboard, officer/regulator pages.

Pages use the same role aliases as the API (:mod:`soc.deps`), so a role sees exactly the pages
whose API it may call. Forms post with the session's CSRF token and redirect back (303) on
success; an error (a stale version, a move the workflow refuses) renders an error page that
says what happened. Alert pages live in :mod:`soc.web.alert_pages`, case pages in
:mod:`soc.web.case_pages`, searches in :mod:`soc.web.search_pages`.

Login (:mod:`soc.login`): a per-address throttle and a per-account lockout; every attempt --
success, wrong password, unknown user, locked, deactivated, throttled -- is audited with the
client address.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from soc import audit, auth, landing, metrics
from soc.deps import (
    SESSION_COOKIE,
    AsAnyone,
    AsOfficer,
    AsRegulator,
    AsStaff,
    ReadSession,
    RuntimeDep,
    WriteSession,
)
from soc.i18n import _
from soc.middleware import LANG_COOKIE
from soc.models import AuditRecord, User, utcnow
from soc.web import charts
from soc.web.rendering import render
from tulou import i18n
from tulou.errors import PolicyDeniedError, UsageError

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "tulou_login_csrf"
LANDING = {
    "analyst": "/alerts",
    "admin": "/alerts",
    "officer": "/drills",
    "regulator": "/reports",
    "service": "/api/v1/me",
}
#: The false-positive chart shows the rules with the highest rate among those with at least
#: this many resolved alerts (a rate over one or two alerts says little), at most FP_SHOWN.
FP_MIN_RESOLVED = 3
FP_SHOWN = 15
YEAR = 365 * 24 * 3600


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(
        request, "error.html", http_status=status, status_code=status, message=message, who=None
    )


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _language_cookie(response: Response, locale: str, secure: bool) -> None:
    response.set_cookie(
        LANG_COOKIE, locale, max_age=YEAR, samesite="strict", secure=secure, httponly=True
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    rt: RuntimeDep,
    failed: bool = False,
    locked: Annotated[int, Query(ge=0, le=10_000)] = 0,
    lang: Annotated[str | None, Query(pattern="^(zh_CN|en)$")] = None,
) -> Response:
    # Login CSRF: a random value in a cookie and in the form (double submit), so another site
    # cannot log a victim's browser into an attacker's account.
    token = secrets.token_urlsafe(32)
    with i18n.using(lang or i18n.current_locale()):
        response = render(
            request, "login.html", csrf_token=token, failed=failed, locked=locked, who=None
        )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=rt.cookie_secure,
        path="/login",
    )
    if lang is not None:
        _language_cookie(response, lang, rt.cookie_secure)
    return response


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


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
        raise PolicyDeniedError(_("the login form expired: reload the page and try again"))
    address = client_address(request)
    if not rt.throttle.allowed(address):
        outcome = auth.LoginOutcome(None, None, "throttled")
    else:
        outcome = auth.login(session, username, password, hours=rt.session_hours)
    audit.append(
        session,
        rt.hash_fn,
        actor=username[:64] or "?",
        action="auth.login" if outcome.result == "ok" else "auth.login_failed",
        target=f"user:{username[:58]}",
        detail={"result": outcome.result, "address": address, "via": "web"},
    )
    if outcome.token is None or outcome.user is None:
        if outcome.result != "locked":
            rt.throttle.failed(address)
        if outcome.result == "locked":
            return back(f"/login?locked={outcome.locked_minutes}")
        return back("/login?failed=true")
    user = outcome.user
    response = back(LANDING.get(user.role, "/alerts"))
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        httponly=True,
        samesite="strict",
        secure=rt.cookie_secure,
        max_age=rt.session_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    if user.locale:
        _language_cookie(response, user.locale, rt.cookie_secure)
    return response


@router.post("/logout")
def logout(request: Request, who: AsAnyone, session: WriteSession, rt: RuntimeDep) -> Response:
    auth.logout(session, request.cookies.get(SESSION_COOKIE, ""))
    audit.append(
        session,
        rt.hash_fn,
        actor=who.username,
        action="auth.logout",
        target=f"user:{who.username}",
        detail={"address": client_address(request)},
    )
    response = back("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(who: AsAnyone) -> Response:
    return back(LANDING.get(who.role, "/login"))


@router.get("/me", response_class=HTMLResponse)
def my_account(request: Request, who: AsAnyone, session: ReadSession) -> Response:
    """Own tokens (and who minted them, if someone else did) and what was done in my name."""
    tokens = auth.tokens_of(session, who.user_id)
    records = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.target == f"user:{who.username}")
        .order_by(AuditRecord.seq.desc())
        .limit(50)
    ).all()
    return render(request, "me.html", who=who, tokens=tokens, records=records)


@router.post("/me/language")
def my_language(
    who: AsAnyone,
    session: WriteSession,
    rt: RuntimeDep,
    locale: Annotated[str, Form(max_length=8)],
) -> Response:
    if locale not in i18n.LOCALES:
        raise UsageError(_("unknown language {locale!r}").format(locale=locale))
    user = session.get(User, who.user_id)
    assert user is not None
    user.locale = locale
    response = back("/")
    _language_cookie(response, locale, rt.cookie_secure)
    return response


def dashboard_context(data: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's charts from the metrics document (rule titles, a readable FP chart)."""
    volume = [(b["bucket"], b["alerts"]) for b in data["volume"]["buckets"]]
    top = [(r.get("title") or r["rule_id"], r["alerts"]) for r in data["top_rules"]]
    rates = [r for r in data["false_positive_rates"] if r.get("resolved", 0) >= FP_MIN_RESOLVED]
    rates.sort(key=lambda r: (-r["fp_rate"], -r.get("resolved", 0), r["rule_id"]))
    shown = rates[:FP_SHOWN]
    fp = [(r.get("title") or r["rule_id"], round(100 * r["fp_rate"], 1)) for r in shown]
    return {
        "volume_chart": charts.bars(volume),
        "top_chart": charts.hbars(top),
        "fp_chart": charts.hbars(fp, unit="%"),
        "fp_shown": len(shown),
        "fp_hidden": len(data["false_positive_rates"]) - len(shown),
        "fp_min": FP_MIN_RESOLVED,
    }


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request,
    who: AsStaff,
    session: ReadSession,
    rt: RuntimeDep,
    days: Annotated[int, Query(ge=1, le=366)] = 7,
) -> Response:
    data = rt.metrics_cache.get(
        days, lambda: metrics.compute(session, now=utcnow(), days=days, sla=rt.sla_targets)
    )
    return render(request, "dashboard.html", who=who, m=data, days=days, **dashboard_context(data))


@router.get("/drills", response_class=HTMLResponse)
def drills(request: Request, who: AsOfficer, rt: RuntimeDep) -> Response:
    """The disaster-recovery drills on record (newest first) with their RTO/RPO outcome."""
    records, problems = landing.drill_records(rt.data_dir)
    return render(request, "drills.html", who=who, records=records, problems=problems)


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, who: AsRegulator, rt: RuntimeDep) -> Response:
    """The compliance reports generated so far (newest first) and whether they are signed."""
    found, problems = landing.reports(rt.data_dir)
    return render(request, "reports.html", who=who, reports=found, problems=problems)
