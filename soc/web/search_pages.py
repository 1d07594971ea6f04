"""Search pages: saving a search of the queue (the event search lives here too)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import Response

from soc import searches
from soc.deps import AsAnalyst, WriteSession
from soc.schemas import IdPath
from soc.web.pages import back

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
