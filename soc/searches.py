"""Saved searches: a user's named queries of the search language, for alerts or events.

Private to their owner (every read and delete filters on the user); a name is unique per user
and scope (saving it again replaces the query). The query must parse (soc.query) when saved,
so a saved search never fails later on a typo.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc import query
from soc.i18n import _
from soc.models import SavedSearch
from tulou.errors import NotFoundError, UsageError

type Scope = Literal["alerts", "events"]
SCOPES: tuple[str, ...] = ("alerts", "events")
MAX_PER_USER = 200


def listing(session: Session, user_id: int, scope: str) -> list[SavedSearch]:
    return list(
        session.scalars(
            select(SavedSearch)
            .where(SavedSearch.user_id == user_id, SavedSearch.scope == scope)
            .order_by(SavedSearch.name)
        )
    )


def save(session: Session, user_id: int, scope: str, name: str, text: str) -> SavedSearch:
    if scope not in SCOPES:
        raise UsageError(_("a saved search is for alerts or events"))
    name = name.strip()
    if not name or len(name) > 64:
        raise UsageError(_("a saved search needs a name of 1-64 characters"))
    query.parse(text)
    row = session.scalar(
        select(SavedSearch).where(
            SavedSearch.user_id == user_id, SavedSearch.scope == scope, SavedSearch.name == name
        )
    )
    if row is None:
        count = len(listing(session, user_id, scope))
        if count >= MAX_PER_USER:
            raise UsageError(_("at most {n} saved searches").format(n=MAX_PER_USER))
        row = SavedSearch(user_id=user_id, scope=scope, name=name, query=text)
        session.add(row)
    else:
        row.query = text
    session.flush()
    return row


def delete(session: Session, user_id: int, search_id: int) -> None:
    row = session.get(SavedSearch, search_id)
    if row is None or row.user_id != user_id:
        raise NotFoundError(_("no saved search {id}").format(id=search_id))
    session.delete(row)
