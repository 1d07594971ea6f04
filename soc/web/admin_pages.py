"""Admin pages: users (deactivate, reactivate), and who holds tokens minted by someone else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from soc import audit, auth
from soc.deps import AsAdmin, ReadSession, RuntimeDep, WriteSession
from soc.i18n import _
from soc.models import User
from soc.web.pages import back
from soc.web.rendering import render
from tulou.errors import UsageError

router = APIRouter(include_in_schema=False)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, who: AsAdmin, session: ReadSession) -> Response:
    users = session.scalars(select(User).order_by(User.username)).all()
    return render(request, "users.html", who=who, users=users)


@router.post("/admin/users/{username}/active")
def set_active(
    username: str,
    who: AsAdmin,
    session: WriteSession,
    rt: RuntimeDep,
    active: Annotated[str, Form(pattern="^(true|false)$")],
) -> Response:
    if username == who.username and active == "false":
        raise UsageError(_("you cannot deactivate yourself"))
    if active == "true":
        auth.reactivate(session, username)
    else:
        auth.deactivate(session, username)
    audit.append(
        session,
        rt.hash_fn,
        actor=who.username,
        action="user.activate" if active == "true" else "user.deactivate",
        target=f"user:{username}",
        detail={},
    )
    return back("/admin/users")
