"""The search language (:mod:`soc.query`) over alerts: field names, value checks, SQL conditions.

Fields (aliases in brackets; docs/soc.md has the table):

- ``id``, ``count``, ``case`` -- integers: ``=``, comparisons, ranges;
- ``severity`` -- ordered (informational < low < medium < high < critical): ``severity:>=high``;
- ``status``, ``reason`` -- one of their values;
- ``rule`` -- a rule id prefix (``rule:3f2a``) or, with a wildcard or a space, its title;
  ``rule_id`` the exact id; ``title`` the alert title (wildcards; contains when quoted words);
- ``host``, ``source_ip`` [``src``, ``source.ip``], ``destination_ip`` [``dst``,
  ``destination.ip``], ``user`` [``user.name``], ``process`` [``process.name``], ``domain``
  [``url.domain``] -- the alert's entities (exact, or ``*`` wildcards);
- ``assignee`` -- a user name, or ``none``; ``tag`` / ``tactic`` / ``technique`` -- ATT&CK;
- ``first_seen``, ``last_seen``, ``created`` -- times: ISO 8601 (a date alone is midnight in the
  city's time zone), or ``now-15m`` / ``now-24h`` / ``now-7d``; comparisons and ranges;
- free text -- contained (case-insensitive) in the title, description or rule id.

Unknown fields and bad values raise :class:`soc.query.QueryError` (400) naming the term, so a
typo is never a silently empty or unfiltered result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from soc.i18n import _
from soc.models import Alert, AlertTag, User
from soc.query import And, MatchAll, Node, Not, Or, QueryError, Range, Term
from soc.triage import SEVERITY_RANK, normalise_tag
from soc.workflow import CLOSING_REASONS, TRANSITIONS
from tulou import i18n
from tulou.events import parse_timestamp

ALIASES: dict[str, str] = {
    "src": "source_ip",
    "source.ip": "source_ip",
    "dst": "destination_ip",
    "destination.ip": "destination_ip",
    "user.name": "user",
    "process.name": "process",
    "url.domain": "domain",
    "host.name": "host",
    "severity_rank": "severity",
}
ENTITY_COLUMNS: dict[str, Any] = {
    "host": Alert.host,
    "source_ip": Alert.source_ip,
    "destination_ip": Alert.destination_ip,
    "user": Alert.user_name,
    "process": Alert.process_name,
    "domain": Alert.url_domain,
}
INT_COLUMNS: dict[str, Any] = {"id": Alert.id, "count": Alert.count, "case": Alert.case_id}
TIME_COLUMNS: dict[str, Any] = {
    "first_seen": Alert.first_seen,
    "last_seen": Alert.last_seen,
    "created": Alert.created_at,
}
OTHER_FIELDS = ("severity", "status", "reason", "rule", "rule_id", "title", "assignee", "tag")
FIELDS: tuple[str, ...] = tuple(
    sorted({*ENTITY_COLUMNS, *INT_COLUMNS, *TIME_COLUMNS, *OTHER_FIELDS, "tactic", "technique"})
)
_RELATIVE = re.compile(r"^now(?:-(\d{1,6})([smhd]))?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _like(value: str) -> str:
    """A ``*`` pattern as a LIKE pattern (``%``, ``_`` and the escape itself escaped)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _text(column: Any, term: Term) -> ColumnElement[bool]:
    if term.op != "=":
        raise QueryError(
            _("{field} compares only with ':'").format(field=term.field), term.position
        )
    if term.wildcard:
        return column.like(_like(term.value), escape="\\")  # type: ignore[no-any-return]
    return column == term.value  # type: ignore[no-any-return]


def _contains(column: Any, value: str) -> ColumnElement[bool]:
    return column.ilike(f"%{_like(value)}%", escape="\\")  # type: ignore[no-any-return]


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    ops: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "=": lambda c, v: c == v,
        "<": lambda c, v: c < v,
        "<=": lambda c, v: c <= v,
        ">": lambda c, v: c > v,
        ">=": lambda c, v: c >= v,
    }
    return ops[op](column, value)


def _range(column: Any, low: Any, high: Any) -> ColumnElement[bool]:
    parts = []
    if low is not None:
        parts.append(column >= low)
    if high is not None:
        parts.append(column <= high)
    return and_(*parts) if parts else true()


def _int(value: str, position: int) -> int:
    if not value.lstrip("-").isdigit() or len(value) > 18:
        raise QueryError(_("{value!r} is not a whole number").format(value=value), position)
    return int(value)


def _severity(value: str, position: int) -> int:
    if value not in SEVERITY_RANK:
        raise QueryError(
            _("unknown severity {value!r}; one of {names}").format(
                value=value, names=", ".join(SEVERITY_RANK)
            ),
            position,
        )
    return SEVERITY_RANK[value]


def parse_time(value: str, position: int, now: datetime) -> datetime:
    """ISO 8601 (aware, or a date in the city's zone) or ``now[-N(s|m|h|d)]``."""
    match = _RELATIVE.match(value)
    if match:
        amount, unit = match.groups()
        return now - timedelta(seconds=int(amount) * _UNITS[unit]) if amount else now
    try:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            day = datetime.fromisoformat(value)
            return day.replace(tzinfo=i18n.zone(i18n.current_timezone()))
        moment = parse_timestamp(value)
    except ValueError:
        moment = None
    if moment is None:
        raise QueryError(
            _("{value!r} is not a time (ISO 8601, a date, or now-24h)").format(value=value),
            position,
        )
    return moment


class AlertQuery:
    """Compiles a syntax tree to one SQL condition on ``alerts`` (given the current time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def condition(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, MatchAll):
            return true()
        if isinstance(node, Not):
            return not_(self.condition(node.child))
        if isinstance(node, And):
            return and_(*(self.condition(c) for c in node.children))
        if isinstance(node, Or):
            return or_(*(self.condition(c) for c in node.children))
        if isinstance(node, Range):
            return self._range(node)
        return self._term(node)

    def _field(self, name: str, position: int) -> str:
        field = ALIASES.get(name, name)
        if field not in FIELDS:
            raise QueryError(
                _("unknown field {name!r}; alert fields: {fields}").format(
                    name=name, fields=", ".join(FIELDS)
                ),
                position,
            )
        return field

    def _range(self, node: Range) -> ColumnElement[bool]:
        field = self._field(node.field, node.position)
        if field in INT_COLUMNS:
            return _range(
                INT_COLUMNS[field],
                None if node.low is None else _int(node.low, node.position),
                None if node.high is None else _int(node.high, node.position),
            )
        if field in TIME_COLUMNS:
            return _range(
                TIME_COLUMNS[field],
                None if node.low is None else parse_time(node.low, node.position, self.now),
                None if node.high is None else parse_time(node.high, node.position, self.now),
            )
        if field == "severity":
            return _range(
                Alert.severity_rank,
                None if node.low is None else _severity(node.low, node.position),
                None if node.high is None else _severity(node.high, node.position),
            )
        raise QueryError(_("{field} has no ranges").format(field=node.field), node.position)

    def _term(self, term: Term) -> ColumnElement[bool]:
        if term.field is None:
            return or_(
                _contains(Alert.title, term.value),
                _contains(Alert.description, term.value),
                _contains(Alert.rule_id, term.value),
            )
        field = self._field(term.field, term.position)
        value, at = term.value, term.position
        if field in ENTITY_COLUMNS:
            return _text(ENTITY_COLUMNS[field], term)
        if field in INT_COLUMNS:
            return _compare(INT_COLUMNS[field], term.op, _int(value, at))
        if field in TIME_COLUMNS:
            return _compare(TIME_COLUMNS[field], term.op, parse_time(value, at, self.now))
        if field == "severity":
            return _compare(Alert.severity_rank, term.op, _severity(value, at))
        if term.op != "=":
            raise QueryError(_("{field} compares only with ':'").format(field=term.field), at)
        if field == "status":
            return _choice(Alert.status, value, tuple(TRANSITIONS), at)
        if field == "reason":
            return _choice(Alert.closing_reason, value, CLOSING_REASONS, at)
        if field == "rule_id":
            return _text(Alert.rule_id, term)
        if field == "rule":
            if term.wildcard:
                return or_(
                    Alert.rule_id.like(_like(value), escape="\\"),
                    Alert.title.ilike(_like(value), escape="\\"),
                )
            if term.quoted or " " in value:
                return _contains(Alert.title, value)
            return or_(Alert.rule_id.like(_like(value) + "%", escape="\\"), Alert.title == value)
        if field == "title":
            return _contains(Alert.title, value) if term.quoted else _text(Alert.title, term)
        if field == "assignee":
            if value == "none":
                return Alert.assignee_id.is_(None)
            return Alert.assignee_id.in_(select(User.id).where(User.username == value))
        # tag / tactic / technique
        tag = normalise_tag(value)
        tag = tag if tag.startswith("attack.") or field == "tag" else f"attack.{tag}"
        if term.wildcard:
            return exists().where(
                AlertTag.alert_id == Alert.id, AlertTag.tag.like(_like(tag), escape="\\")
            )
        return exists().where(AlertTag.alert_id == Alert.id, AlertTag.tag == tag)


def _choice(
    column: Any, value: str, allowed: tuple[str, ...], position: int
) -> ColumnElement[bool]:
    if value not in allowed:
        raise QueryError(
            _("{value!r} is not one of {names}").format(value=value, names=", ".join(allowed)),
            position,
        )
    return column == value  # type: ignore[no-any-return]


def condition(node: Node, now: datetime) -> ColumnElement[bool]:
    """The SQL condition of ``node`` (raises QueryError on unknown fields or bad values)."""
    return AlertQuery(now).condition(node)
