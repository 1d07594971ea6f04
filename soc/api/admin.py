"""``/api/v1``: the caller, users and tokens, metrics, audit verification, the rule catalogue."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from soc import audit, auth, metrics
from soc.deps import (
    AsAdmin,
    AsAnyone,
    AsRegulator,
    AsService,
    AsStaff,
    ReadSession,
    Runtime,
    RuntimeDep,
    WriteSession,
)
from soc.i18n import _
from soc.models import RuleInfo, User, utcnow
from soc.schemas import (
    Me,
    RulesIn,
    TokenCreate,
    TokenIssued,
    UserCreate,
    UserPatch,
    UserPublic,
)
from tulou.errors import UsageError

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.get("/me", response_model=Me)
def me(who: AsAnyone) -> Me:
    return Me(
        username=who.username,
        role=who.role,
        via=who.via,
        locale=who.locale,
        issued_by=who.issued_by,
    )


@router.get("/users", response_model=list[UserPublic])
def list_users(who: AsAdmin, session: ReadSession) -> Any:
    return [UserPublic.model_validate(u) for u in session.scalars(select(User).order_by(User.id))]


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, who: AsAdmin, session: WriteSession, rt: RuntimeDep) -> Any:
    user = auth.create_user(session, body.username, body.role, body.password)
    audit.append(
        session,
        rt.hash_fn,
        actor=who.username,
        action="user.create",
        target=f"user:{user.username}",
        detail={"role": user.role},
    )
    return UserPublic.model_validate(user)


@router.patch("/users/{username}", response_model=UserPublic)
def patch_user(
    username: str, body: UserPatch, who: AsAdmin, session: WriteSession, rt: RuntimeDep
) -> Any:
    """Deactivate / reactivate a user (sessions end, tokens stop at once), set language, e-mail."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("active") is False and username == who.username:
        raise UsageError(_("you cannot deactivate yourself"))
    if "active" in changes:
        user = (
            auth.reactivate(session, username)
            if changes["active"]
            else auth.deactivate(session, username)
        )
    else:
        user = auth.find_user(session, username)
    if "locale" in changes:
        user.locale = changes["locale"]
    if "e_mail" in changes:
        user.e_mail = changes["e_mail"]
    audit.append(
        session,
        rt.hash_fn,
        actor=who.username,
        action="user.update",
        target=f"user:{username}",
        detail=changes,
    )
    return UserPublic.model_validate(user)


@router.post("/users/{username}/tokens", response_model=TokenIssued, status_code=201)
def create_token(
    username: str, body: TokenCreate, who: AsAdmin, session: WriteSession, rt: RuntimeDep
) -> TokenIssued:
    """Issue an API token (shown once, stored hashed). A token an admin mints for another
    person may read but never change anything in their name; that person sees it on /me."""
    token = auth.create_token(session, username, body.name, issued_by=who.user_id)
    audit.append(
        session,
        rt.hash_fn,
        actor=who.username,
        action="token.create",
        target=f"user:{username}",
        detail={"name": body.name, "issued_by": who.username},
    )
    return TokenIssued(username=username, name=body.name, token=token)


_METRICS = TypeAdapter(dict[str, Any])


@router.get("/metrics", response_model=dict[str, Any])
async def get_metrics(
    request: Request,
    who: AsStaff,
    rt: RuntimeDep,
    days: Annotated[int, Query(ge=1, le=366)] = 7,
) -> Response:
    """MTTA/MTTR per severity, SLA breaches, volume, top rules, FP rates, ATT&CK coverage."""
    # The cache holds the encoded body: a hit is served without a thread hop or re-encoding.
    key = ("json", days)
    body = rt.metrics_cache.peek(key)
    if body is None:
        compute = functools.partial(_metrics_json, rt, days)
        # A window someone asks for is refreshed in the background while it is being read.
        rt.metrics_cache.keep_fresh(key, compute, pinned=False)
        body = await run_in_threadpool(rt.metrics_cache.get, key, compute)
    expires = rt.metrics_cache.expires(key)
    if expires is not None and isinstance(body, bytes):
        # Until the same expiry, the hot GET middleware answers this exact URL for staff
        # callers after its per-request token and role check (soc/hot_cache.py).
        rt.hot_cache.put(
            (request.url.path, request.scope["query_string"]),
            0,
            body,
            {"content-type": "application/json"},
            auth.STAFF,  # = AsStaff's set
            expires=expires,
        )
    return Response(body, media_type="application/json")


def warm_metrics(rt: Runtime, days: int) -> None:
    """Compute the API's metrics body for ``days`` now and keep it fresh in the background."""
    rt.metrics_cache.warm(("json", days), functools.partial(_metrics_json, rt, days))


def _metrics_json(rt: Runtime, days: int) -> bytes:
    with rt.db.read() as session:
        data = metrics.compute(session, now=utcnow(), days=days, sla=rt.sla_targets)
    return _METRICS.dump_json(data)


@router.get("/audit/verify")
def verify_audit(who: AsRegulator, session: ReadSession, rt: RuntimeDep) -> dict[str, Any]:
    """Walk the SM3 audit chain and report where it breaks (``ok`` when it does not)."""
    return audit.verify(session, rt.hash_fn).to_dict()


@router.post("/rules")
def register_rules(body: RulesIn, who: AsService, session: WriteSession) -> dict[str, int]:
    """Register (or update) rules in the catalogue used by the ATT&CK coverage matrix."""
    for rule in body.rules:
        techniques = sorted(
            {t.lower().replace("_", "-") for t in rule.tags if t.lower().startswith("attack.")}
        )
        row = session.get(RuleInfo, rule.rule_id)
        if row is None:
            session.add(RuleInfo(rule_id=rule.rule_id, title=rule.title, techniques=techniques))
        else:
            row.title, row.techniques, row.updated_at = rule.title, techniques, utcnow()
    return {"rules": len(body.rules)}
