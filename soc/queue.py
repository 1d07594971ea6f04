"""The triage queue: filters, sorting and keyset pagination over alerts.

Keyset (seek) pagination: a page ends with a cursor that encodes the sort key of its last row;
the next page is ``WHERE (key..., id) < (cursor...)`` (or ``>`` ascending). Unlike OFFSET, the
cost of a page does not grow with its depth, and rows inserted meanwhile neither repeat nor
vanish. Each sort order has a matching composite index (see :mod:`soc.models`), with the
equality filters (status, severity, rule, assignee, host, source IP) as leading columns.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from soc.i18n import _
from soc.models import Alert, AlertTag
from soc.triage import SEVERITY_RANK, normalise_tag
from tulou.errors import UsageError

#: sort name -> the columns of its key (the id is always last, as the tie-breaker).
SORTS: dict[str, tuple[Any, ...]] = {
    "last_seen": (Alert.last_seen, Alert.id),
    "first_seen": (Alert.first_seen, Alert.id),
    "severity": (Alert.severity_rank, Alert.last_seen, Alert.id),
    "id": (Alert.id,),
}
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Every field is optional; given fields are ANDed; list fields are ORed within."""

    status: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    rule_id: str | None = None
    tactic: str | None = None
    technique: str | None = None
    host: str | None = None
    source_ip: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    since: datetime | None = None
    until: datetime | None = None
    destination_ip: str | None = None
    user_name: str | None = None
    process_name: str | None = None
    url_domain: str | None = None
    #: More conditions, ANDed (a compiled query of the search language, soc.query_sql).
    extra: tuple[ColumnElement[bool], ...] = ()


def _conditions(flt: QueueFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.status:
        where.append(Alert.status.in_(flt.status))
    if flt.severity:
        unknown = [s for s in flt.severity if s not in SEVERITY_RANK]
        if unknown:
            raise UsageError(
                _("unknown severity {value!r}; one of {names}").format(
                    value=unknown[0], names=", ".join(SEVERITY_RANK)
                )
            )
        where.append(Alert.severity_rank.in_([SEVERITY_RANK[s] for s in flt.severity]))
    if flt.rule_id:
        where.append(Alert.rule_id == flt.rule_id)
    for given in (flt.tactic, flt.technique):
        if given:
            tag = _attack_tag(given)
            where.append(exists().where(AlertTag.alert_id == Alert.id, AlertTag.tag == tag))
    if flt.host:
        where.append(Alert.host == flt.host)
    if flt.source_ip:
        where.append(Alert.source_ip == flt.source_ip)
    for column, value in (
        (Alert.destination_ip, flt.destination_ip),
        (Alert.user_name, flt.user_name),
        (Alert.process_name, flt.process_name),
        (Alert.url_domain, flt.url_domain),
    ):
        if value:
            where.append(column == value)
    if flt.assignee_id is not None:
        where.append(Alert.assignee_id == flt.assignee_id)
    if flt.unassigned:
        where.append(Alert.assignee_id.is_(None))
    if flt.since is not None:
        where.append(Alert.last_seen >= flt.since)
    if flt.until is not None:
        where.append(Alert.last_seen < flt.until)
    where.extend(flt.extra)
    return where


def _attack_tag(value: str) -> str:
    """``T1110`` / ``credential_access`` / ``attack.t1110`` -> the stored tag form."""
    norm = normalise_tag(value)
    return norm if norm.startswith("attack.") else f"attack.{norm}"


def encode_cursor(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, columns: tuple[Any, ...]) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError("wrong shape")
        values: list[Any] = []
        for column, value in zip(columns, raw, strict=True):
            if column.key in ("last_seen", "first_seen"):
                values.append(datetime.fromisoformat(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                values.append(value)
            else:
                raise ValueError("bad value")
        return values
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise UsageError(_("invalid cursor: use the next_cursor of a previous page")) from exc


def page(
    session: Session,
    flt: QueueFilter,
    *,
    sort: str = "last_seen",
    order: str = "desc",
    limit: int = 50,
    cursor: str | None = None,
    columns: tuple[Any, ...] | None = None,
) -> tuple[list[Any], str | None]:
    """One page of the queue and the cursor of the next page (None on the last page).

    The rows are :class:`Alert` objects, or with ``columns`` (which must include the sort key's
    columns) plain rows of just those columns: no ORM identity map, for read-only pages.
    """
    if sort not in SORTS:
        raise UsageError(
            _("unknown sort {value!r}; one of {names}").format(value=sort, names=", ".join(SORTS))
        )
    if order not in ("asc", "desc"):
        raise UsageError(_("order is asc or desc"))
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(_("limit must be between 1 and {n}").format(n=MAX_LIMIT))
    key = SORTS[sort]
    query: Select[Any] = (select(*columns) if columns else select(Alert)).where(*_conditions(flt))
    if cursor is not None:
        query = query.where(_after(key, decode_cursor(cursor, key), order))
    ordering = [c.desc() if order == "desc" else c.asc() for c in key]
    statement = query.order_by(*ordering).limit(limit + 1)
    rows = list(session.execute(statement) if columns else session.scalars(statement))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([getattr(last, c.key) for c in key])


def _after(columns: tuple[Any, ...], values: list[Any], order: str) -> ColumnElement[bool]:
    """(c1, c2, ...) < (v1, v2, ...) written out, which every database can plan on an index."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        step = column < values[i] if order == "desc" else column > values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)
