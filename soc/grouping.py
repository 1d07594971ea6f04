"""Alert grouping by rule and entity over a time window (besides the deduplication key).

The dedup key groups occurrences into one alert while it is open; grouping here is a view over
alerts: every (rule, entity value, window) with its alerts -- e.g. "rule ssh-brute-force on
source 203.0.113.9 between 08:00 and 09:00: 14 alerts, worst high". ``by`` is one entity
column (host, source/destination address, user, process, domain); ``window`` is an hour or a
day (windows start on the hour / at midnight UTC, computed by the database). Alerts without a
value for the entity are not grouped. Filters (the search language) apply before grouping.
All aggregation runs in the database (GROUP BY on the indexed columns), newest window first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from soc.i18n import _
from soc.metrics_parts import _bucket
from soc.models import Alert
from soc.triage import SEVERITY_RANK
from tulou.errors import UsageError
from tulou.events import parse_timestamp

BY: dict[str, Any] = {
    "host": Alert.host,
    "source_ip": Alert.source_ip,
    "destination_ip": Alert.destination_ip,
    "user": Alert.user_name,
    "process": Alert.process_name,
    "domain": Alert.url_domain,
}
WINDOWS = ("hour", "day")
MAX_GROUPS = 200
_RANK_NAME = {rank: name for name, rank in SEVERITY_RANK.items()}


@dataclass(frozen=True, slots=True)
class Group:
    rule_id: str
    title: str
    entity: str
    window_start: datetime
    alerts: int
    occurrences: int
    worst: str
    last_seen: datetime


def groups(
    session: Session,
    *,
    by: str,
    window: str,
    where: tuple[ColumnElement[bool], ...] = (),
    limit: int = MAX_GROUPS,
) -> list[Group]:
    if by not in BY:
        raise UsageError(_("group by one of {names}").format(names=", ".join(BY)))
    if window not in WINDOWS:
        raise UsageError(_("the window is hour or day"))
    column = BY[by]
    dialect = session.get_bind().dialect.name
    bucket = _bucket(dialect, Alert.first_seen, window == "hour").label("bucket")
    rows = session.execute(
        select(
            Alert.rule_id,
            func.max(Alert.title),
            column,
            bucket,
            func.count(Alert.id),
            func.sum(Alert.count),
            func.max(Alert.severity_rank),
            func.max(Alert.last_seen),
        )
        .where(column.is_not(None), *where)
        .group_by(Alert.rule_id, column, bucket)
        .order_by(bucket.desc(), func.count(Alert.id).desc(), Alert.rule_id)
        .limit(limit)
    )
    out = []
    for rule_id, title, entity, start, n, occurrences, worst, last in rows:
        text = str(start)
        moment = parse_timestamp(text + (":00Z" if window == "hour" else "T00:00:00Z"))
        out.append(
            Group(
                rule_id,
                title,
                entity,
                moment,
                int(n),
                int(occurrences or 0),
                _RANK_NAME[worst],
                last,
            )
        )
    return out
