"""``/api/v1/events``: search the event store with the search language (analysts and admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from soc import query
from soc.deps import AsAnalyst, RuntimeDep
from soc.event_search import MAX_PAGE, EventPage, EventSearch
from soc.i18n import _
from soc.models import utcnow
from tulou.errors import UnavailableError

router = APIRouter(prefix="/api/v1/events", tags=["events"])


class EventPageOut(BaseModel):
    total: int
    events: list[dict[str, Any]]
    next_cursor: str | None
    prev_cursor: str | None


def searcher(rt: Any) -> EventSearch:
    make = getattr(rt.events, "searcher", None)
    found = make() if make is not None else None
    if found is None:
        raise UnavailableError(_("no searchable event store is configured"))
    return found  # type: ignore[no-any-return]


def run_search(
    rt: Any, q: str, *, order: str, limit: int, after: str | None, before: str | None
) -> EventPage:
    return searcher(rt).search(
        query.parse(q),
        now=utcnow(),
        order="asc" if order == "asc" else "desc",
        limit=limit,
        after=after,
        before=before,
    )


@router.get("", response_model=EventPageOut)
def search_events(
    *,
    who: AsAnalyst,
    rt: RuntimeDep,
    q: Annotated[str, Query(max_length=query.MAX_LENGTH)] = "",
    order: Annotated[str, Query(pattern="^(desc|asc)$")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    after: Annotated[str | None, Query(max_length=1024)] = None,
    before: Annotated[str | None, Query(max_length=1024)] = None,
) -> EventPageOut:
    """Events matching ``q`` newest (or oldest) first, the exact total, and the cursors of the
    next and previous pages."""
    page = run_search(rt, q, order=order, limit=limit, after=after, before=before)
    return EventPageOut(
        total=page.total,
        events=page.events,
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
    )
