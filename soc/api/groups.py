"""``/api/v1/alert-groups``: alerts grouped by rule and entity over an hour or a day."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from soc import grouping, query, query_sql
from soc.deps import AsAnalyst, ReadSession
from soc.models import utcnow

router = APIRouter(prefix="/api/v1/alert-groups", tags=["alerts"])

By = Literal["host", "source_ip", "destination_ip", "user", "process", "domain"]


class GroupOut(BaseModel):
    rule_id: str
    title: str
    entity: str
    window_start: datetime
    alerts: int
    occurrences: int
    worst: str
    last_seen: datetime


@router.get("", response_model=list[GroupOut])
def alert_groups(
    who: AsAnalyst,
    session: ReadSession,
    by: By = "source_ip",
    window: Literal["hour", "day"] = "hour",
    q: Annotated[str, Query(max_length=query.MAX_LENGTH)] = "",
) -> list[GroupOut]:
    """(rule, entity, window) groups, newest window first, largest first within a window."""
    where = (query_sql.condition(query.parse(q), utcnow()),) if q else ()
    return [
        GroupOut.model_validate(g, from_attributes=True)
        for g in grouping.groups(session, by=by, window=window, where=where)
    ]
