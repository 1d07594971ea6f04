"""``/api/v1/searches``: the caller's saved searches (analysts and admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from soc import searches
from soc.deps import AsAnalyst, ReadSession, WriteSession
from soc.schemas import IdPath, SavedSearchIn, SavedSearchPublic

router = APIRouter(prefix="/api/v1/searches", tags=["searches"])


@router.get("", response_model=list[SavedSearchPublic])
def list_searches(who: AsAnalyst, session: ReadSession, scope: searches.Scope = "alerts") -> Any:
    return [
        SavedSearchPublic.model_validate(s) for s in searches.listing(session, who.user_id, scope)
    ]


@router.post("", response_model=SavedSearchPublic, status_code=201)
def save_search(body: SavedSearchIn, who: AsAnalyst, session: WriteSession) -> Any:
    """Save (or replace, by name) a query of the search language."""
    row = searches.save(session, who.user_id, body.scope, body.name, body.query)
    return SavedSearchPublic.model_validate(row)


@router.delete("/{search_id}", status_code=204)
def delete_search(search_id: IdPath, who: AsAnalyst, session: WriteSession) -> Response:
    searches.delete(session, who.user_id, search_id)
    return Response(status_code=204)
