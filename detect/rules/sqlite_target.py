"""Run compiled Sigma SQL on the ingest engineer's SQLite event store.

Uses the store's public surface only: ``db`` (the connection), ``ensure_columns`` (gives a
field a column, filled from the stored documents) and ``ensure_index``. Queries are the WHERE
conditions :class:`~detect.rules.sqlite_backend.TulouSqliteBackend` produces; this module adds
the time range, the columns it reads and the ordering.
"""

# Identifiers go through quote(); values are bound parameters; the condition is compiled from
# a rule by pySigma (rules are trusted configuration, reviewed like code).
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sigma.backends.sqlite.correlation import quote
from sigma.processing.pipeline import ProcessingPipeline

from detect.rules.compile import PARTITION_FIELDS
from detect.rules.correlation import Match
from detect.rules.literals import LiteralIndex, Tree
from detect.rules.regex import register_sqlite_functions
from detect.rules.sqlite_backend import SCALAR_FIELDS, FieldLayout, TulouSqliteBackend
from tulou.errors import InputError
from tulou.events import format_timestamp, parse_timestamp

#: ECS fields that are lists by definition: always matched element-wise.
LIST_FIELDS = frozenset(
    {"event.category", "event.type", "related.ip", "related.user", "related.hosts", "tags"}
    | {"process.args", "auditd.log.record_types", "dns.answers.data", "dns.resolved_ip"}
)

#: Conditions per batched statement (SQLite's expression depth and result width stay small).
BATCH = 100


class SqliteEventTable(Protocol):
    """What we use of ``detect.stores.sqlite.SQLiteStore``."""

    db: sqlite3.Connection

    def ensure_columns(self, names: Sequence[str]) -> None: ...

    def ensure_index(self, name: str) -> None: ...

    def columns(self) -> list[str]: ...


class SqliteRuleTarget:
    """Base-rule matching on a SQLite event store (see :class:`RuleTarget`)."""

    name = "sqlite"
    #: A batch of rules without a log-source condition would scan the whole range (see
    #: :class:`detect.rules.targets.MatchesInBatches`).
    batch_without_source = False

    def __init__(
        self,
        store: SqliteEventTable,
        pipeline: ProcessingPipeline,
        *,
        literal_prefilter: bool = True,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        #: Use the rules' necessary literals to skip (rule, row) pairs that cannot match.
        self.literal_prefilter = literal_prefilter
        self._layout: FieldLayout | None = None
        register_sqlite_functions(store.db)

    def backend(self) -> TulouSqliteBackend:
        return TulouSqliteBackend(self.pipeline, layout=self.layout())

    def layout(self) -> FieldLayout:
        """Fields that hold no JSON array in the store get plain (cheap, indexable) predicates.

        Read once per compilation with one scan; fields the store has not seen yet, and ECS
        fields that are lists by definition, keep the element-wise form. A field that starts
        holding arrays after a compilation is seen as such by the next one (``watch``
        recompiles on restart; ``run`` compiles every time).
        """
        if self._layout is None:
            columns = [c for c in self.store.columns() if c not in LIST_FIELDS]
            scalars: set[str] = set(SCALAR_FIELDS)
            for offset in range(0, len(columns), 500):
                chunk = columns[offset : offset + 500]
                probes = ", ".join(
                    f"max(substr({quote(c)}, 1, 1) = '[' AND json_valid({quote(c)}))" for c in chunk
                )
                row = self.store.db.execute(f"SELECT {probes} FROM events").fetchone()
                scalars.update(c for c, has_list in zip(chunk, row, strict=True) if not has_list)
            self._layout = FieldLayout(frozenset(scalars))
        return self._layout

    def prepare(self, fields: Sequence[str]) -> None:
        # SQLite column names are case-insensitive: "Payload" and "payload" are one column,
        # which is also what a case-insensitive Sigma field lookup means.
        known = {name.lower() for name in self.store.columns()}
        wanted: dict[str, str] = {}
        for name in sorted(set(fields) | {"event.original"}):
            if name.lower() not in known:
                wanted.setdefault(name.lower(), name)
        self.store.ensure_columns(list(wanted.values()))
        for name in PARTITION_FIELDS:
            self.store.ensure_index(name)  # the pre-filter and batches seek on these

    def matches_batch(
        self,
        items: Sequence[tuple[str, Any]],
        requires: Mapping[str, frozenset[str]],
        start: datetime,
        end: datetime,
        fields: Sequence[str],
        *,
        literals: Sequence[Tree | None] | None = None,
        errors: dict[str, str] | None = None,
    ) -> dict[str, list[Match]]:
        """Many rules in one scan: ``items`` are (rule id, query) sharing ``requires``.

        One statement per :data:`BATCH` conditions reads the rows of the rules' log source
        (an index seek on the partition fields), keeps those matching any condition, and
        reports which conditions matched each row. Same result as :meth:`matches` per rule.

        ``literals[i]`` (optional) are item i's necessary literals. With the literal
        pre-filter on, the items that have some are not scanned over every row: one pass reads
        the rows' text fields, an automaton per field finds which items' literals occur in
        each row, and each item's query then runs only on its candidate rows (items with the
        same candidates share statements). The query still decides: same result.

        A failing statement fails the batch (:class:`InputError`; the evaluator then runs its
        rules one by one); ``errors`` is accepted for the batch protocol and left untouched.
        """
        wanted = list(dict.fromkeys(fields))
        out: dict[str, dict[str, Match]] = {rule_id: {} for rule_id, _ in items}
        partition = "".join(
            f" AND {quote(name)} IN ({', '.join('?' * len(values))})"
            for name, values in sorted(requires.items())
        )
        partition_params = [v for _, values in sorted(requires.items()) for v in sorted(values)]
        where = f'"@timestamp" >= ? AND "@timestamp" < ?{partition}'
        params = [format_timestamp(start), format_timestamp(end), *partition_params]
        if not (self.literal_prefilter and literals is not None):
            self._scan(items, where, params, wanted, out)
        else:
            # Partition fields hold the same few values on every row of the batch: useless.
            text = self._text_columns() - {name.lower() for name in PARTITION_FIELDS}
            index = LiteralIndex(literals, lambda f: f.lower() in text)
            self._scan([items[i] for i in index.unfiltered], where, params, wanted, out)
            # Candidates come from rows that satisfied ``where`` just now (events are
            # append-only): the rowids alone select them, by primary key.
            restricted = "rowid IN (SELECT value FROM json_each(?))"
            for rowids, chunk in self._candidates(index, items, where, params).items():
                self._scan(chunk, restricted, [json.dumps(rowids)], wanted, out)
        return {
            rule_id: sorted(found.values(), key=lambda m: (m.timestamp, m.event_id))
            for rule_id, found in out.items()
        }

    def _candidates(
        self,
        index: LiteralIndex,
        items: Sequence[tuple[str, Any]],
        where: str,
        params: list[Any],
    ) -> dict[tuple[int, ...], list[tuple[str, Any]]]:
        """Items grouped by their candidate rows (rowids); items with none are left out."""
        if not index.fields:
            return {}
        per_item: dict[int, list[int]] = {}
        columns = ", ".join(quote(f) for f in index.fields)
        sql = f"SELECT rowid, {columns} FROM events WHERE {where}"
        try:
            for row in self.store.db.execute(sql, params):
                for position in index.candidates(row[1:]):
                    per_item.setdefault(position, []).append(row[0])
        except sqlite3.Error as exc:
            raise InputError(f"rule batch: literal pre-filter failed: {exc}") from exc
        groups: dict[tuple[int, ...], list[tuple[str, Any]]] = {}
        for position, rowids in sorted(per_item.items()):
            groups.setdefault(tuple(rowids), []).append(items[position])
        return groups

    def _text_columns(self) -> set[str]:
        """Lower-cased names of the TEXT columns (what the literal pre-filter may scan)."""
        rows = self.store.db.execute("SELECT name, type FROM pragma_table_info('events')")
        return {str(name).lower() for name, kind in rows if str(kind).upper() == "TEXT"}

    def _scan(
        self,
        items: Sequence[tuple[str, Any]],
        where: str,
        params: list[Any],
        wanted: list[str],
        out: dict[str, dict[str, Match]],
    ) -> None:
        """Rows satisfying ``where`` and any item's query, :data:`BATCH` queries a statement."""
        columns = ", ".join(quote(f) for f in ["event.id", "@timestamp", *wanted])
        for offset in range(0, len(items), BATCH):
            chunk = items[offset : offset + BATCH]
            flags = " || ".join(
                f"CASE WHEN ({query}) THEN '{i},' ELSE '' END" for i, (_, query) in enumerate(chunk)
            )
            anyof = " OR ".join(f"({query})" for _, query in chunk)
            sql = f"SELECT {columns}, {flags} FROM events WHERE {where} AND ({anyof})"
            try:
                rows = self.store.db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise InputError(f"rule batch: SQL failed: {exc}") from exc
            for row in rows:
                values = {n: _decode(v) for n, v in zip(wanted, row[2:-1], strict=True)}
                for index in row[-1].split(",")[:-1]:
                    rule_id = chunk[int(index)][0]
                    out[rule_id].setdefault(
                        row[0], Match(rule_id, row[0], parse_timestamp(row[1]), values)
                    )

    def matches(
        self, rule_id: str, query: Any, start: datetime, end: datetime, fields: Sequence[str]
    ) -> list[Match]:
        wanted = list(dict.fromkeys(fields))
        columns = ", ".join(quote(f) for f in ["event.id", "@timestamp", *wanted])
        sql = (
            f"SELECT {columns} FROM events "
            f'WHERE "@timestamp" >= ? AND "@timestamp" < ? AND ({query}) '
            'ORDER BY "@timestamp", "event.id"'
        )
        params = (format_timestamp(start), format_timestamp(end))
        try:
            rows = self.store.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise InputError(f"rule {rule_id}: SQL failed: {exc}") from exc
        return [
            Match(
                rule_id=rule_id,
                event_id=row[0],
                timestamp=parse_timestamp(row[1]),
                values={name: _decode(value) for name, value in zip(wanted, row[2:], strict=True)},
            )
            for row in rows
        ]

    def distinct(self, field: str, start: datetime, end: datetime) -> set[str]:
        self.store.ensure_columns([field])
        sql = (
            f"SELECT DISTINCT lower({quote(field)}) FROM events "
            'WHERE "@timestamp" >= ? AND "@timestamp" < ?'
        )
        rows = self.store.db.execute(sql, (format_timestamp(start), format_timestamp(end)))
        out: set[str] = set()
        for (value,) in rows:
            decoded = _decode(value)
            for item in decoded if isinstance(decoded, list) else [decoded]:
                if item is not None:
                    out.add(str(item).lower())
        return out


def _decode(value: Any) -> Any:
    """The store keeps multi-element lists as JSON text: give them back as lists."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value
