"""Search pages: the event search (the event store, with the search language) and saving a
search of the queue or of the events."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from soc import query, searches
from soc.api.events import run_search
from soc.deps import AsAnalyst, ReadSession, RuntimeDep, WriteSession
from soc.event_search import MAX_PAGE
from soc.schemas import IdPath
from soc.web.pages import back
from soc.web.rendering import render

router = APIRouter(include_in_schema=False)


@router.post("/searches")
def save_search(
    who: AsAnalyst,
    session: WriteSession,
    name: Annotated[str, Form(max_length=64)],
    query: Annotated[str, Form(max_length=2000)],
    scope: Annotated[str, Form(pattern="^(alerts|events)$")] = "alerts",
) -> Response:
    searches.save(session, who.user_id, scope, name, query)
    target = "/alerts" if scope == "alerts" else "/search"
    return back(f"{target}?{urlencode({'q': query})}")


@router.post("/searches/{search_id}/delete")
def delete_search(search_id: IdPath, who: AsAnalyst, session: WriteSession) -> Response:
    searches.delete(session, who.user_id, search_id)
    return back("/alerts")


@router.get("/search", response_class=HTMLResponse)
def event_search(
    *,
    request: Request,
    who: AsAnalyst,
    rt: RuntimeDep,
    session: ReadSession,
    q: Annotated[str, Query(max_length=query.MAX_LENGTH)] = "",
    order: Annotated[str, Query(pattern="^(desc|asc)$")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    after: Annotated[str | None, Query(max_length=1024)] = None,
    before: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """Events of the event store: total, sorted by time either way, pages forward and back."""
    page = run_search(rt, q, order=order, limit=limit, after=after, before=before)
    base = {"q": q, "order": order, "limit": limit}
    return render(
        request,
        "search.html",
        who=who,
        q=q,
        order=order,
        limit=limit,
        page=page,
        next_url=f"/search?{urlencode({**base, 'after': page.next_cursor})}"
        if page.next_cursor
        else None,
        prev_url=f"/search?{urlencode({**base, 'before': page.prev_cursor})}"
        if page.prev_cursor
        else None,
        saved=searches.listing(session, who.user_id, "events"),
    )
