"""FastAPI dependencies: the runtime, database sessions, the caller, and one alias per role.

Authentication: ``Authorization: Bearer <token>`` (API tokens, for services and scripts) or the
``tulou_session`` cookie (the web UI). Requests authenticated by cookie that change anything
(POST, PUT, PATCH, DELETE) must carry the session's CSRF token, as the ``X-CSRF-Token`` header
or the ``csrf_token`` form field: the cookie is sent by the browser on cross-site requests too,
a token in the page is not. Bearer requests need no CSRF token: browsers never add that header
on their own.

Role aliases (use exactly one per endpoint; admin passes every human check):

=============  =======================================  =====================================
alias          roles admitted                           used for
=============  =======================================  =====================================
AsAnalyst      analyst, admin                           alerts, cases, evidence
AsOfficer      officer, admin                           drills, backups
AsRegulator    regulator, officer, admin                reports, audit verification
AsStaff        analyst, officer, regulator, admin       metrics, dashboard, own profile
AsAdmin        admin                                    users, tokens
AsService      service, admin                           alert ingest, rule catalogue
AsAnyone       any authenticated caller                 ``/api/v1/me``
=============  =======================================  =====================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from soc import audit, auth, security
from soc.assets import Inventory
from soc.audit import HashFunction
from soc.db import Database
from soc.errors import AuthenticationError
from soc.evidence import EventSource
from soc.hot_cache import HotCache
from soc.i18n import _
from soc.login import AddressThrottle
from soc.metrics import DEFAULT_SLA, SlaTarget
from soc.metrics_cache import MetricsCache
from soc.notify import Notifier
from tulou import i18n
from tulou.errors import PolicyDeniedError

SESSION_COOKIE = "tulou_session"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Runtime:
    """Everything a request needs, built once by :func:`soc.app.create_app`."""

    db: Database
    hash_fn: HashFunction
    events: EventSource
    notifier: Notifier
    cookie_secure: bool = True
    session_hours: int = 8
    sla: dict[str, SlaTarget] | None = None
    metrics_cache: MetricsCache = field(default_factory=lambda: MetricsCache(0))
    hot_cache: HotCache = field(default_factory=lambda: HotCache(0))
    timezone: str = i18n.DEFAULT_TIMEZONE
    throttle: AddressThrottle = field(default_factory=AddressThrottle)
    #: Where the officer's and regulator's pages find drill records and reports (soc.landing).
    data_dir: Path | None = None
    inventory: Inventory = field(default_factory=Inventory)

    @property
    def sla_targets(self) -> dict[str, SlaTarget]:
        return self.sla or DEFAULT_SLA


def runtime(request: Request) -> Runtime:
    value = request.app.state.runtime
    assert isinstance(value, Runtime)
    return value


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def read_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.db.read() as session:
        yield session


def write_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.db.write() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]
WriteSession = Annotated[Session, Depends(write_session)]


async def principal(request: Request, rt: RuntimeDep) -> auth.Principal:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(_("use 'Authorization: Bearer <token>'"))
        who = await run_in_threadpool(_from_token, rt, token.strip())
        if who.locale:
            i18n.set_locale(who.locale)
        if who.issued_by is not None and who.role in auth.HUMAN_ROLES and request.method in _UNSAFE:
            # An admin may mint a token for a person (to read what they see), never to act in
            # their name: every change would be attributed to someone who did not make it.
            await run_in_threadpool(_refuse_impersonation, rt, who, request)
            raise PolicyDeniedError(
                _(
                    "this token was issued by {issuer}, not by {user}: it may read but not "
                    "change anything in {user}'s name"
                ).format(issuer=who.issued_by, user=who.username)
            )
        return who
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise AuthenticationError(_("authentication required"))
    who = await run_in_threadpool(_from_session, rt, cookie)
    if who.locale:
        i18n.set_locale(who.locale)
    if request.method in _UNSAFE:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        if not sent or who.csrf_token is None or not security.tokens_equal(sent, who.csrf_token):
            raise PolicyDeniedError(_("missing or wrong CSRF token"))
    return who


def _refuse_impersonation(rt: Runtime, who: auth.Principal, request: Request) -> None:
    with rt.db.write() as session:
        audit.append(
            session,
            rt.hash_fn,
            actor=who.issued_by or "?",
            action="auth.impersonation_refused",
            target=f"user:{who.username}",
            detail={"method": request.method, "path": request.url.path},
        )


def _from_token(rt: Runtime, token: str) -> auth.Principal:
    with rt.db.read() as session:
        return auth.principal_from_token(session, token)


def _from_session(rt: Runtime, cookie: str) -> auth.Principal:
    with rt.db.read() as session:
        return auth.principal_from_session(session, cookie)


def require(roles: frozenset[str]) -> Callable[[auth.Principal], Awaitable[auth.Principal]]:
    """A dependency admitting only callers whose role is in ``roles`` (one of auth's sets)."""

    # async: a pure check, so FastAPI runs it inline instead of in a worker thread.
    async def check(who: Annotated[auth.Principal, Depends(principal)]) -> auth.Principal:
        if not auth.admits(roles, who.role):
            raise PolicyDeniedError(_("the {role} role may not do this").format(role=who.role))
        return who

    check.__name__ = "require_" + "_or_".join(sorted(roles))
    return check


AsAnalyst = Annotated[auth.Principal, Depends(require(auth.ANALYSTS))]
AsOfficer = Annotated[auth.Principal, Depends(require(auth.OFFICERS))]
AsRegulator = Annotated[auth.Principal, Depends(require(auth.REGULATORS))]
AsStaff = Annotated[auth.Principal, Depends(require(auth.STAFF))]
AsAdmin = Annotated[auth.Principal, Depends(require(auth.ADMINS))]
AsService = Annotated[auth.Principal, Depends(require(auth.SERVICES))]
AsAnyone = Annotated[auth.Principal, Depends(principal)]
