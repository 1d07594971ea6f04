"""Search over the events in detect's event store (SQLite or Elasticsearch) with the search
language (:mod:`soc.query`): sorted by time, exact totals, keyset pages in both directions.

Fields are ECS names as stored (``source.ip``, ``user.name``, ``@timestamp``); free text is
contained in ``event.original`` or ``message``. Strings compare case-insensitively and ``*``
is a wildcard, as everywhere in detect's stores; comparisons and ranges work on numbers and on
times (``@timestamp:>now-1h``, ISO 8601 or a date in the city's zone).

The seam (:class:`EventSearch`): ``search(node, order, limit, after, before)`` MUST return the
matching events sorted by (``@timestamp``, ``event.id``) in ``order``, at most ``limit``,
starting after the ``after`` cursor (the next page) or ending before the ``before`` cursor (the
previous page), the exact ``total`` of matches, and the cursors of the neighbouring pages
(None where there is none). Two implementations: :class:`SQLiteEventSearch` (SQL over the
store's ``events`` table, the table pySigma's backend queries; fields without a column through
``json_extract``) and :class:`ElasticsearchEventSearch` (query DSL, ``search_after``,
``track_total_hits``). Both are tested against real stores with the same cases.
"""

# Identifiers are field names through _quote() (or fixed SQL); every value is a bound
# parameter. That is what S608 cannot see.
# ruff: noqa: S608

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from soc.i18n import _
from soc.query import And, MatchAll, Node, Not, Or, QueryError, Range, Term
from soc.query_sql import parse_time
from tulou.errors import UsageError
from tulou.events import Event, format_timestamp

type Order = Literal["desc", "asc"]
MAX_PAGE = 200
#: Fields that hold times (compared as instants, not text).
TIME_FIELDS = frozenset(
    {"@timestamp", "event.start", "event.end", "event.created", "event.ingested"}
)
TEXT_FIELDS = ("event.original", "message")
_NUMBER = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


class EventSearch(Protocol):
    def search(
        self,
        node: Node,
        *,
        now: datetime,
        order: Order = "desc",
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> EventPage: ...


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(_("invalid cursor: use the next_cursor of a previous page")) from exc
    if not isinstance(raw, list) or len(raw) != 2:
        raise UsageError(_("invalid cursor: use the next_cursor of a previous page"))
    return raw


def _check_page(limit: int, after: str | None, before: str | None) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise UsageError(_("limit must be between 1 and {n}").format(n=MAX_PAGE))
    if after is not None and before is not None:
        raise UsageError(_("give after or before, not both"))


def _time_value(term_value: str, position: int, now: datetime) -> str:
    return format_timestamp(parse_time(term_value, position, now))


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteEventSearch:
    """SQL over detect's SQLite store (read through the store's own read-only ``query``)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _fields(self) -> dict[str, bool]:
        rows = self.store.query("SELECT name, has_column FROM fields")
        return {str(r["name"]): bool(r["has_column"]) for r in rows}

    def _target(self, name: str, fields: dict[str, bool]) -> str | None:
        if name not in fields:
            return None
        if fields[name]:
            return f"e.{_quote(name)}"
        path = "'" + ('$."' + name.replace('"', '\\"') + '"').replace("'", "''") + "'"
        doc = "(SELECT doc FROM documents d WHERE d.rowid = e.rowid)"
        return f'json_extract(coalesce(e."_rest", {doc}), {path})'

    def _sql(self, node: Node, fields: dict[str, bool], params: list[Any], now: datetime) -> str:
        if isinstance(node, MatchAll):
            return "1"
        if isinstance(node, Not):
            return f"NOT coalesce(({self._sql(node.child, fields, params, now)}), 0)"
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self._sql(c, fields, params, now) for c in node.children) + ")"
        if isinstance(node, Range):
            target = self._target(node.field, fields)
            if target is None:
                return "0"
            parts = []
            for bound, op in ((node.low, ">="), (node.high, "<=")):
                if bound is not None:
                    parts.append(f"{target} {op} ?")
                    params.append(self._value(node.field, bound, node.position, now))
            return "(" + " AND ".join(parts) + ")" if parts else "1"
        if node.field is None:
            targets = [t for name in TEXT_FIELDS if (t := self._target(name, fields))]
            if not targets:
                return "0"
            params.extend([f"%{_like(node.value)}%"] * len(targets))
            return "(" + " OR ".join(f"{t} LIKE ? ESCAPE '\\'" for t in targets) + ")"
        target = self._target(node.field, fields)
        if target is None:
            return "0"  # no stored event has this field
        if node.op == "=" and node.wildcard:
            params.append(_like(node.value))
            return f"{target} LIKE ? ESCAPE '\\'"
        params.append(self._value(node.field, node.value, node.position, now))
        op = "=" if node.op == "=" else node.op
        collate = " COLLATE NOCASE" if op == "=" else ""
        return f"{target} {op} ?{collate}"

    @staticmethod
    def _value(field: str, value: str, position: int, now: datetime) -> Any:
        if field in TIME_FIELDS:
            return _time_value(value, position, now)
        if _NUMBER.match(value):
            return float(value) if "." in value else int(value)
        return value

    def search(
        self,
        node: Node,
        *,
        now: datetime,
        order: Order = "desc",
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> EventPage:
        _check_page(limit, after, before)
        fields = self._fields()
        params: list[Any] = []
        where = self._sql(node, fields, params, now)
        (count,) = self.store.query(f"SELECT count(*) AS n FROM events e WHERE {where}", params)
        total = int(count["n"])
        # Walk in the page's direction: reversed for a previous page.
        forward = before is None
        walk = order if forward else ("asc" if order == "desc" else "desc")
        cursor = after if forward else before
        keyset, key_params = "", []
        if cursor is not None:
            ts, event_id = decode_cursor(cursor)
            cmp = "<" if walk == "desc" else ">"
            keyset = (
                f' AND (e."@timestamp" {cmp} ? OR (e."@timestamp" = ? AND e."event.id" {cmp} ?))'
            )
            key_params = [ts, ts, event_id]
        direction = "DESC" if walk == "desc" else "ASC"
        rows = self.store.query(
            f'SELECT e."event.id" AS id, e."@timestamp" AS ts FROM events e WHERE {where}{keyset} '
            f'ORDER BY e."@timestamp" {direction}, e."event.id" {direction} LIMIT ?',
            [*params, *key_params, limit + 1],
        )
        more = len(rows) > limit
        rows = rows[:limit]
        if not forward:
            rows.reverse()
        found = {str(e.get("event.id")): e for e in self.store.by_ids([str(r["id"]) for r in rows])}
        events = [found[str(r["id"])] for r in rows if str(r["id"]) in found]
        first = [rows[0]["ts"], rows[0]["id"]] if rows else None
        last = [rows[-1]["ts"], rows[-1]["id"]] if rows else None
        has_next = more if forward else True
        has_prev = (cursor is not None) if forward else more
        return EventPage(
            events,
            total,
            encode_cursor(last) if has_next and last else None,
            encode_cursor(first) if has_prev and first else None,
        )


class ElasticsearchEventSearch:
    """Query DSL over detect's Elasticsearch index (``client`` and ``index`` of the store)."""

    def __init__(self, client: Any, index: str) -> None:
        self.client = client
        self.index = index

    def dsl(self, node: Node, now: datetime) -> dict[str, Any]:
        if isinstance(node, MatchAll):
            return {"match_all": {}}
        if isinstance(node, Not):
            return {"bool": {"must_not": [self.dsl(node.child, now)]}}
        if isinstance(node, And):
            return {"bool": {"filter": [self.dsl(c, now) for c in node.children]}}
        if isinstance(node, Or):
            return {
                "bool": {
                    "should": [self.dsl(c, now) for c in node.children],
                    "minimum_should_match": 1,
                }
            }
        if isinstance(node, Range):
            bounds: dict[str, Any] = {}
            if node.low is not None:
                bounds["gte"] = self._value(node.field, node.low, node.position, now)
            if node.high is not None:
                bounds["lte"] = self._value(node.field, node.high, node.position, now)
            return {"range": {node.field: bounds}} if bounds else {"exists": {"field": node.field}}
        if node.field is None:
            pattern = (
                "*" + node.value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") + "*"
            )
            return {
                "bool": {
                    "should": [
                        {"wildcard": {f: {"value": pattern, "case_insensitive": True}}}
                        for f in TEXT_FIELDS
                    ],
                    "minimum_should_match": 1,
                }
            }
        if node.op == "=" and node.wildcard:
            return {"wildcard": {node.field: {"value": node.value, "case_insensitive": True}}}
        value = self._value(node.field, node.value, node.position, now)
        if node.op != "=":
            ops = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
            return {"range": {node.field: {ops[node.op]: value}}}
        if (
            isinstance(value, str)
            and node.field not in TIME_FIELDS
            and not node.field.endswith(".ip")
        ):
            return {"term": {node.field: {"value": value, "case_insensitive": True}}}
        return {"term": {node.field: value}}

    @staticmethod
    def _value(field: str, value: str, position: int, now: datetime) -> Any:
        if field in TIME_FIELDS:
            return _time_value(value, position, now)
        if _NUMBER.match(value) and not field.endswith(".ip"):
            return float(value) if "." in value else int(value)
        return value

    def search(
        self,
        node: Node,
        *,
        now: datetime,
        order: Order = "desc",
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> EventPage:
        from elasticsearch import ApiError, TransportError  # noqa: PLC0415

        from tulou.errors import UnavailableError  # noqa: PLC0415

        _check_page(limit, after, before)
        forward = before is None
        walk = order if forward else ("asc" if order == "desc" else "desc")
        cursor = after if forward else before
        body: dict[str, Any] = {
            "query": self.dsl(node, now),
            "sort": [{"@timestamp": walk}, {"event.id": walk}],
            "size": limit + 1,
            "track_total_hits": True,
        }
        if cursor is not None:
            body["search_after"] = decode_cursor(cursor)
        try:
            response = self.client.search(index=self.index, **body)
        except ApiError as exc:
            if getattr(exc, "status_code", 500) == 400:
                raise QueryError(
                    _("the event store refused the query: {reason}").format(reason=str(exc)[:200]),
                    0,
                ) from exc
            raise UnavailableError(f"Elasticsearch search failed: {type(exc).__name__}") from exc
        except TransportError as exc:
            raise UnavailableError(
                f"Elasticsearch cannot be reached: {type(exc).__name__}"
            ) from exc
        hits = response["hits"]["hits"]
        more = len(hits) > limit
        hits = hits[:limit]
        if not forward:
            hits.reverse()
        total = int(response["hits"]["total"]["value"])
        has_next = more if forward else True
        has_prev = (cursor is not None) if forward else more
        return EventPage(
            [h["_source"] for h in hits],
            total,
            encode_cursor(hits[-1]["sort"]) if has_next and hits else None,
            encode_cursor(hits[0]["sort"]) if has_prev and hits else None,
        )


class MemoryEventSearch:
    """The fake: the same semantics evaluated in Python over a list of events."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)

    def _match(self, node: Node, event: Event, now: datetime) -> bool:
        if isinstance(node, MatchAll):
            return True
        if isinstance(node, Not):
            return not self._match(node.child, event, now)
        if isinstance(node, And):
            return all(self._match(c, event, now) for c in node.children)
        if isinstance(node, Or):
            return any(self._match(c, event, now) for c in node.children)
        if isinstance(node, Range):
            if node.field not in event:
                return False
            have = self._comparable(node.field, event[node.field])
            low = None if node.low is None else self._wanted(node.field, node.low, node, now)
            high = None if node.high is None else self._wanted(node.field, node.high, node, now)
            try:
                return (low is None or have >= low) and (high is None or have <= high)
            except TypeError:
                return False
        if node.field is None:
            needle = node.value.lower()
            return any(needle in str(event.get(f, "")).lower() for f in TEXT_FIELDS)
        if node.field not in event:
            return False
        if node.op == "=" and node.wildcard:
            pattern = "(?is)" + ".*".join(re.escape(p) for p in node.value.split("*")) + r"\Z"
            return re.match(pattern, str(event[node.field])) is not None
        have = self._comparable(node.field, event[node.field])
        wanted = self._wanted(node.field, node.value, node, now)
        try:
            return bool(
                {
                    "=": have == wanted,
                    "<": have < wanted,
                    "<=": have <= wanted,
                    ">": have > wanted,
                    ">=": have >= wanted,
                }[node.op]
            )
        except TypeError:
            return False

    @staticmethod
    def _comparable(field: str, value: Any) -> Any:
        if field in TIME_FIELDS:
            return str(value)
        return value.lower() if isinstance(value, str) else value

    @staticmethod
    def _wanted(field: str, value: str, node: Term | Range, now: datetime) -> Any:
        got = SQLiteEventSearch._value(field, value, node.position, now)
        return got.lower() if isinstance(got, str) and field not in TIME_FIELDS else got

    def search(
        self,
        node: Node,
        *,
        now: datetime,
        order: Order = "desc",
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> EventPage:
        _check_page(limit, after, before)
        found = [e for e in self.events if self._match(node, e, now)]
        key = [(str(e.get("@timestamp")), str(e.get("event.id"))) for e in found]
        ordered = sorted(zip(key, found, strict=True), reverse=order == "desc")
        keys = [k for k, _e in ordered]
        if after is not None:
            mark = tuple(decode_cursor(after))
            start = next(
                (i for i, k in enumerate(keys) if (k < mark if order == "desc" else k > mark)),
                len(keys),
            )
            chunk = ordered[start : start + limit]
            has_prev, has_next = True, start + limit < len(ordered)
        elif before is not None:
            mark = tuple(decode_cursor(before))
            end = next(
                (i for i, k in enumerate(keys) if (k <= mark if order == "desc" else k >= mark)),
                len(keys),
            )
            begin = max(0, end - limit)
            chunk = ordered[begin:end]
            has_prev, has_next = begin > 0, True
        else:
            chunk = ordered[:limit]
            has_prev, has_next = False, limit < len(ordered)
        return EventPage(
            [e for _k, e in chunk],
            len(found),
            encode_cursor(list(chunk[-1][0])) if has_next and chunk else None,
            encode_cursor(list(chunk[0][0])) if has_prev and chunk else None,
        )


def for_store(store: Any) -> EventSearch | None:
    """The search for one of detect's stores (None for a store kind it does not know)."""
    if hasattr(store, "client") and hasattr(store, "index"):
        return ElasticsearchEventSearch(store.client, store.index)
    if hasattr(store, "query") and hasattr(store, "by_ids"):
        return SQLiteEventSearch(store)
    return None
