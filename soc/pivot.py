"""Pivots from one alert: the other alerts on the same entities, and the alert's timeline.

**Related alerts**: every other alert that shares at least one entity value (host, source or
destination address, user, process, URL domain; soc.entities) with this one, newest first,
each with the entities it shares. One indexed lookup per entity (``(column, last_seen, id)``),
so the cost does not grow with the table.

**Timeline** (oldest first): the alert's events (evidence, by ``@timestamp``), when each
occurrence arrived, its acknowledgement and resolution, its comments, and the first sighting of
each related alert -- what an analyst reads to see what happened in which order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.entities import DISPLAY
from soc.i18n import _
from soc.models import Alert, Comment, Occurrence, User
from tulou.events import parse_timestamp

ENTITY_COLUMNS = tuple(DISPLAY)
MAX_RELATED = 50


@dataclass(frozen=True, slots=True)
class Related:
    id: int
    title: str
    status: str
    severity: str
    last_seen: datetime
    first_seen: datetime
    shared: tuple[str, ...]


def related(session: Session, alert: Alert, limit: int = MAX_RELATED) -> list[Related]:
    found: dict[int, tuple[Alert, list[str]]] = {}
    for column in ENTITY_COLUMNS:
        value = getattr(alert, column)
        if value is None:
            continue
        col = getattr(Alert, column)
        rows = session.scalars(
            select(Alert)
            .where(col == value, Alert.id != alert.id)
            .order_by(Alert.last_seen.desc(), Alert.id.desc())
            .limit(limit)
        )
        for row in rows:
            entry = found.setdefault(row.id, (row, []))
            entry[1].append(f"{_(DISPLAY[column][0])} {value}")
    ordered = sorted(found.values(), key=lambda e: (e[0].last_seen, e[0].id), reverse=True)
    return [
        Related(a.id, a.title, a.status, a.severity, a.last_seen, a.first_seen, tuple(shared))
        for a, shared in ordered[:limit]
    ]


@dataclass(frozen=True, slots=True)
class Moment:
    at: datetime
    kind: str
    text: str


def timeline(
    session: Session,
    alert: Alert,
    events: Sequence[dict[str, Any]],
    related_alerts: Sequence[Related] = (),
) -> list[Moment]:
    moments: list[Moment] = []
    for event in events:
        try:
            at = parse_timestamp(str(event.get("@timestamp")))
        except ValueError:
            continue
        text = str(event.get("event.original") or event.get("message") or "")[:200]
        moments.append(Moment(at, _("event"), f"{event.get('event.dataset', '')}: {text}"))
    for occ in session.scalars(
        select(Occurrence).where(Occurrence.alert_id == alert.id).order_by(Occurrence.received_at)
    ):
        moments.append(
            Moment(
                occ.received_at,
                _("occurrence"),
                _("detected with {n} event(s)").format(n=len(occ.event_ids)),
            )
        )
    if alert.acknowledged_at is not None:
        moments.append(Moment(alert.acknowledged_at, _("triage"), _("acknowledged")))
    if alert.resolved_at is not None:
        moments.append(Moment(alert.resolved_at, _("triage"), _("resolved")))
    for comment, author in session.execute(
        select(Comment, User.username)
        .join(User, User.id == Comment.author_id)
        .where(Comment.alert_id == alert.id)
    ):
        moments.append(Moment(comment.created_at, _("comment"), f"{author}: {comment.body[:200]}"))
    for rel in related_alerts:
        moments.append(
            Moment(
                rel.first_seen,
                _("related alert"),
                f"#{rel.id} {rel.title} ({', '.join(rel.shared)})",
            )
        )
    moments.sort(key=lambda m: m.at)
    return moments
