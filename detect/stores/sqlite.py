"""The embedded event store: one SQLite file, one column per ECS field.

Schema (docs/detect.md has the rationale):

- ``events``: ``rowid INTEGER PRIMARY KEY`` and one column per field name, named exactly as the
  field (``"source.ip"``, ``"@timestamp"``), declared ``COLLATE NOCASE`` so ``=`` and ``LIKE``
  compare strings case-insensitively as Sigma requires. A field first seen with a number gets
  ``NUMERIC`` affinity (range comparisons work), otherwise ``TEXT``. Booleans are stored as
  ``'true'``/``'false'``, one-element lists as their element, longer lists and objects as JSON
  text. This is the table pySigma's sqlite backend queries (``table="events"``,
  ``timestamp_field="@timestamp"``, ``event_id_field="rowid"``).
- ``documents``: ``rowid`` -> the event as JSON, exactly as written (what search returns).
- ``fields``: the catalogue of field names, whether each has a column, and its affinity.

SQLite allows 2000 columns; the first :data:`MAX_COLUMNS` field names get one automatically.
Later names live only in ``documents`` until :meth:`SQLiteStore.ensure_columns` promotes them
(adds the column and fills it from the documents), which rules call for the fields they use.
Indexes exist on ``event.id`` (unique), ``@timestamp`` and :data:`INDEXED_FIELDS`;
:meth:`SQLiteStore.ensure_index` adds more. A bulk load (:meth:`SQLiteStore.bulk`) may set all
but the unique one aside and rebuild them at its end.
"""

# Identifiers are field names, always passed through quote(); values are always bound
# parameters. That is what S608 cannot see.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detect.stores import sqlite_indexes
from detect.stores.base import Query, WriteResult, as_list
from detect.stores.sqlite_batch import EncodedBatch, column_value, encode_batch
from tulou.errors import InputError, UnavailableError
from tulou.events import Event, format_timestamp

MAX_COLUMNS = 1900
INDEXED_FIELDS = (
    "event.dataset",
    "event.action",
    "event.code",
    "source.ip",
    "destination.ip",
    "destination.port",
    "user.name",
    "host.name",
    "process.name",
    "dns.question.name",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    rowid INTEGER PRIMARY KEY,
    "event.id" TEXT NOT NULL COLLATE BINARY,
    "@timestamp" TEXT NOT NULL COLLATE NOCASE
);
CREATE UNIQUE INDEX IF NOT EXISTS "events_event.id" ON events ("event.id");
CREATE INDEX IF NOT EXISTS "events_@timestamp" ON events ("@timestamp");
CREATE TABLE IF NOT EXISTS documents (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fields (
    name TEXT PRIMARY KEY,
    affinity TEXT NOT NULL,
    has_column INTEGER NOT NULL
);
INSERT OR IGNORE INTO fields VALUES ('event.id', 'TEXT', 1), ('@timestamp', 'TEXT', 1);
"""


def quote(name: str) -> str:
    """An SQL identifier for any field name (double quotes, embedded ones doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _regexp(pattern: str, value: Any) -> bool:
    import re  # noqa: PLC0415

    return value is not None and re.search(pattern, str(value)) is not None


#: A bulk load sets the secondary indexes aside only after writing this many rows.
BULK_MIN_ROWS = 20_000


@dataclass
class _BulkLoad:
    threshold: int
    written: int = 0
    aside: bool = False


class SQLiteStore:
    """Events in a SQLite file (or ``:memory:``). One writer at a time; not thread-safe."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            # A double-quoted name that is not a column must be an error, not a string literal
            # (SQLite's legacy behaviour would make a rule on an unknown field match text).
            self.db.setconfig(sqlite3.SQLITE_DBCONFIG_DQS_DML, False)
            self.db.setconfig(sqlite3.SQLITE_DBCONFIG_DQS_DDL, False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache: the unique event.id index takes random inserts.
            self.db.execute("PRAGMA cache_size=-65536")
            self.db.executescript(_SCHEMA)
            self.db.execute(sqlite_indexes.SCHEMA)
            if sqlite_indexes.pending(self.db):  # a bulk load ended without rebuilding them
                # (or one is running in another process). Best effort: a store busy for
                # longer than the busy timeout still opens; the records stay for later.
                with suppress(sqlite3.OperationalError):
                    sqlite_indexes.rebuild(self.db)
        except sqlite3.Error as exc:
            raise UnavailableError(f"cannot open SQLite store {self.path}: {exc}") from exc
        self.db.create_function("REGEXP", 2, _regexp, deterministic=True)
        self._fields: dict[str, tuple[str, bool]] = {
            name: (affinity, bool(has))
            for name, affinity, has in self.db.execute("SELECT * FROM fields")
        }
        self._columns = sum(1 for _, has in self._fields.values() if has)
        # SQLite column names are case-insensitive: "auditd.syscall.UID" (auditd's ENRICHED
        # user name) would collide with "auditd.syscall.uid". The later one stays in documents.
        self._folded = {name.lower() for name, (_, has) in self._fields.items() if has}
        self._bulk: _BulkLoad | None = None

    # -- schema ------------------------------------------------------------------------------

    def _add_fields(self, sample: dict[str, Any]) -> None:
        for name, value in sample.items():
            if name in self._fields:
                continue
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            affinity = "NUMERIC" if numeric else "TEXT"
            has = self._columns < MAX_COLUMNS and name.lower() not in self._folded
            if has:
                self.db.execute(
                    f"ALTER TABLE events ADD COLUMN {quote(name)} {affinity} COLLATE NOCASE"
                )
                self._columns += 1
                self._folded.add(name.lower())
                if name in INDEXED_FIELDS:
                    self._index(name, now=self._bulk is None or not self._bulk.aside)
            self.db.execute("INSERT INTO fields VALUES (?, ?, ?)", (name, affinity, int(has)))
            self._fields[name] = (affinity, has)

    def _index(self, name: str, *, now: bool = True) -> None:
        index = "events_" + name
        sql = f"CREATE INDEX IF NOT EXISTS {quote(index)} ON events ({quote(name)})"
        if now:
            self.db.execute(sql)
        else:  # a bulk load set the indexes aside: this one is built with them at its end
            sqlite_indexes.defer(self.db, index, sql)

    def ensure_columns(self, names: Iterable[str]) -> None:
        """Give each field name a column (filled from the stored documents if it had none).

        Compiled Sigma SQL names columns; a field no event has ever carried gets an all-NULL
        column, so such a rule simply matches nothing instead of failing.
        """
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for name in names:
                affinity, has = self._fields.get(name, ("TEXT", False))
                if has:
                    continue
                self.db.execute(
                    f"ALTER TABLE events ADD COLUMN {quote(name)} {affinity} COLLATE NOCASE"
                )
                self._columns += 1
                self._folded.add(name.lower())
                self.db.execute(
                    f"UPDATE events SET {quote(name)} = (SELECT json_extract(doc, ?) "
                    "FROM documents WHERE documents.rowid = events.rowid)",
                    ('$."' + name.replace('"', '\\"') + '"',),
                )
                self.db.execute("INSERT OR REPLACE INTO fields VALUES (?, ?, 1)", (name, affinity))
                self._fields[name] = (affinity, True)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def ensure_index(self, name: str) -> None:
        """An index on a field's column (created if missing)."""
        self.ensure_columns([name])
        self._index(name)

    def columns(self) -> list[str]:
        return [name for name, (_, has) in self._fields.items() if has]

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """A bulk load: once it has written as many rows as the store held when it began (and
        at least :data:`BULK_MIN_ROWS`), the secondary indexes are set aside and rebuilt when
        it ends (:mod:`detect.stores.sqlite_indexes`). Writes, searches and counts give the
        same results throughout; only index-backed queries are slower in between."""
        if self._bulk is not None:  # nested: the outer one decides
            yield
            return
        (rows,) = self.db.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()
        self._bulk = _BulkLoad(threshold=max(int(rows), BULK_MIN_ROWS))
        try:
            yield
        finally:
            bulk, self._bulk = self._bulk, None
            if bulk.aside or sqlite_indexes.pending(self.db):
                with suppress(sqlite3.OperationalError):
                    # Locked by another writer for longer than the busy timeout: the records
                    # stay, and the next bulk load's end or the next open rebuilds them. No
                    # event depends on it; only index-backed queries stay slow until then.
                    sqlite_indexes.rebuild(self.db)

    def _after_write(self, stored: int) -> None:
        bulk = self._bulk
        if bulk is None or bulk.aside:
            return
        bulk.written += stored
        if bulk.written >= bulk.threshold:
            sqlite_indexes.set_aside(self.db)
            bulk.aside = True

    # -- EventStore --------------------------------------------------------------------------

    def write(self, events: Sequence[Event]) -> WriteResult:
        """Store new events in one transaction; a known ``event.id`` counts as a duplicate.

        ``events`` may be an :class:`EncodedBatch` (see :meth:`batch_encoder`); a plain batch
        is encoded here with the same function. Duplicates (against the store and within the
        batch) are found by the unique index on ``event.id`` itself (``INSERT OR IGNORE``),
        not by a lookup before the insert; when the insert skipped some rows, the stored ones
        are mapped back to their documents by id.
        """
        batch = events if isinstance(events, EncodedBatch) else encode_batch(events)
        result = WriteResult(duplicates=len(batch.repeated), rejected=list(batch.rejected))
        if not batch.rows:
            return result
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._insert(batch)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise UnavailableError(f"SQLite store {self.path}: {exc}") from exc
        result.stored += stored
        result.duplicates += len(batch.rows) - stored
        self._after_write(stored)
        return result

    @staticmethod
    def batch_encoder() -> Callable[[Sequence[Event]], Sequence[Event]]:
        """:func:`encode_batch`: a worker process may encode batches for :meth:`write`."""
        return encode_batch

    def _rows(self, batch: EncodedBatch) -> tuple[list[str], Sequence[Sequence[Any]]]:
        """The column names this batch writes and its rows cut to them.

        New field names get their column first (affinity from the first value an event of
        the batch has for it); names without a column (beyond the cap, or differing only in
        case from a column) are cut from the rows.
        """
        known = self._fields
        new = [name for name in batch.names if name not in known]
        if new:
            self._add_fields(batch.first_values(new))
        keep = [i for i, name in enumerate(batch.names) if name in known and known[name][1]]
        names = [batch.names[i] for i in keep]
        if len(keep) == len(batch.names):
            return names, batch.rows
        return names, [[row[i] for i in keep] for row in batch.rows]

    def _insert(self, batch: EncodedBatch) -> int:
        """Insert the batch's rows and documents (ids distinct); returns how many were new."""
        names, rows = self._rows(batch)
        (last,) = self.db.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()
        columns = ", ".join(quote(n) for n in names)
        marks = ", ".join("?" * len(names))
        # No rowid given: SQLite assigns max(rowid) + 1 to each row, in order.
        sql = f"INSERT OR IGNORE INTO events ({columns}) VALUES ({marks})"
        try:
            stored = self.db.executemany(sql, rows).rowcount
        except OverflowError:  # an integer beyond 64 bits: store those as text
            rows = [[column_value(v) for v in row] for row in rows]
            stored = self.db.executemany(sql, rows).rowcount
        if stored == len(rows):
            docs: Iterable[tuple[int, str]] = enumerate(batch.docs, last + 1)
        else:
            by_id = dict(zip(batch.ids, batch.docs, strict=True))
            docs = [
                (rowid, by_id[ident])
                for rowid, ident in self.db.execute(
                    'SELECT rowid, "event.id" FROM events WHERE rowid > ? ORDER BY rowid', (last,)
                )
            ]
        self.db.executemany("INSERT INTO documents (rowid, doc) VALUES (?, ?)", docs)
        return stored

    def _where(self, query: Query) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.start is not None:
            clauses.append('e."@timestamp" >= ?')
            params.append(format_timestamp(query.start))
        if query.end is not None:
            clauses.append('e."@timestamp" < ?')
            params.append(format_timestamp(query.end))
        for name, wanted in query.filters.items():
            if name not in self._fields:
                clauses.append("0")  # no event has this field
                continue
            if self._fields[name][1]:
                target = f"e.{quote(name)}"
            else:
                path = '$."' + name.replace('"', '\\"') + '"'
                literal = "'" + path.replace("'", "''") + "'"
                doc = "(SELECT doc FROM documents d WHERE d.rowid = e.rowid)"
                target = f"json_extract({doc}, {literal})"
            alternatives = []
            for value in as_list(wanted):
                stored = column_value(value)
                if isinstance(stored, str) and "*" in stored:
                    op, arg = "LIKE ? ESCAPE '\\'", _like(stored)
                else:
                    op, arg = "= ? COLLATE NOCASE", stored
                # A list-valued field is stored as JSON text: match any of its elements too.
                elements = (
                    f"SELECT 1 FROM json_each(CASE WHEN substr({target}, 1, 1) = '[' "
                    f"AND json_valid({target}) THEN {target} END)"
                )
                alternatives.append(f"({target} {op} OR EXISTS ({elements} WHERE value {op}))")
                params.extend([arg, arg])
            clauses.append("(" + " OR ".join(alternatives) + ")")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def search(self, query: Query) -> list[Event]:
        where, params = self._where(query)
        sql = (
            f"SELECT d.doc FROM events e JOIN documents d ON d.rowid = e.rowid{where} "
            'ORDER BY e."@timestamp", e."event.id" LIMIT ?'
        )
        return [json.loads(doc) for (doc,) in self.db.execute(sql, [*params, query.limit])]

    def by_ids(self, ids: Sequence[str]) -> list[Event]:
        """Events with exactly these ids, via the unique ``event.id`` index (FetchesByIds).

        ``search`` compares case-insensitively (and element-wise for lists), which the BINARY
        id index cannot serve: at a million events an id lookup through it walks the table.
        """
        wanted = list(dict.fromkeys(ids))
        out: list[Event] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT d.doc FROM events e JOIN documents d ON d.rowid = e.rowid "
                f'WHERE e."event.id" IN ({marks})',
                chunk,
            )
            out.extend(json.loads(doc) for (doc,) in rows)
        return out

    def count(self, query: Query | None = None) -> int:
        where, params = self._where(query or Query())
        (total,) = self.db.execute(f"SELECT count(*) FROM events e{where}", params).fetchone()
        return int(total)

    def close(self) -> None:
        self.db.close()

    # -- for the rules engine ----------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only SQL statement (e.g. compiled Sigma) and return rows as dicts."""
        try:
            cursor = self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise InputError(f"SQL failed: {exc}") from exc
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def documents(self, rowids: Iterable[int]) -> list[Event]:
        """The stored events with these rowids (in rowid order)."""
        ids = list(rowids)
        out: list[Event] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT doc FROM documents WHERE rowid IN ({marks}) ORDER BY rowid", chunk
            )
            out.extend(json.loads(doc) for (doc,) in rows)
        return out


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")
