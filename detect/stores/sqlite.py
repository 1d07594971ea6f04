"""The embedded event store: one SQLite file, one column per ECS field.

Schema (docs/detect.md has the rationale):

- ``events``: ``rowid INTEGER PRIMARY KEY`` and one column per field name, named exactly as the
  field (``"source.ip"``, ``"@timestamp"``), declared ``COLLATE NOCASE`` so ``=`` and ``LIKE``
  compare strings case-insensitively as Sigma requires. A field first seen with a number gets
  ``NUMERIC`` affinity (range comparisons work), otherwise ``TEXT``. Booleans are stored as
  ``'true'``/``'false'``, one-element lists as their element, longer lists and objects as JSON
  text. This is the table pySigma's sqlite backend queries (``table="events"``,
  ``timestamp_field="@timestamp"``, ``event_id_field="rowid"``).
  Two more columns rebuild the event exactly (format 2, :mod:`detect.stores.sqlite_shapes`):
  ``_shape`` (the id of its keys, their order and where each value comes from; ``shapes``
  holds them) and ``_rest`` (JSON of the values no column gives back exactly, or NULL).
- ``documents``: ``rowid`` -> the event as JSON, for rows written before format 2 only
  (``_shape`` NULL); a store of format 1 is upgraded in place when opened (two columns added,
  nothing rewritten) and its old rows are read from here.
- ``fields``: the catalogue of field names, whether each has a column, and its affinity.

SQLite allows 2000 columns; the first :data:`MAX_COLUMNS` field names get one automatically.
Later names live only in ``_rest`` (or ``documents``) until
:meth:`SQLiteStore.ensure_columns` promotes them (adds the column and fills it from there),
which rules call for the fields they use.
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
from functools import partial
from pathlib import Path
from typing import Any

from detect.stores import sqlite_ids, sqlite_indexes, sqlite_staging
from detect.stores.base import Query, WriteResult, as_list, content_digest, settle
from detect.stores.sqlite_batch import EncodedBatch, column_value, encode_batch
from detect.stores.sqlite_shapes import (
    INTERNAL_COLUMNS,
    REST_COLUMN,
    SHAPE_COLUMN,
    Shape,
    conflicts,
    parse_shape,
    positions,
    rebuild,
)
from detect.stores.sqlite_staging import StagedBatch, stage_batch
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
#: The on-disk format (``PRAGMA user_version``): 0 = format 1 (a JSON document per event),
#: 2 = rows rebuilt from their columns, ``_shape`` and ``_rest``; 3 = as 2, event ids bound
#: to content (``event.hash``; older stores are upgraded on open, :mod:`.sqlite_ids`).
FORMAT = 3
_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS events (
    rowid INTEGER PRIMARY KEY,
    "event.id" TEXT NOT NULL COLLATE BINARY,
    "@timestamp" TEXT NOT NULL COLLATE NOCASE,
    "{SHAPE_COLUMN}" INTEGER,
    "{REST_COLUMN}" TEXT
)""",
    'CREATE UNIQUE INDEX IF NOT EXISTS "events_event.id" ON events ("event.id")',
    'CREATE INDEX IF NOT EXISTS "events_@timestamp" ON events ("@timestamp")',
    "CREATE TABLE IF NOT EXISTS documents (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS shapes (id INTEGER PRIMARY KEY, shape TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS fields (
    name TEXT PRIMARY KEY,
    affinity TEXT NOT NULL,
    has_column INTEGER NOT NULL
)""",
    "INSERT OR IGNORE INTO fields VALUES ('event.id', 'TEXT', 1), ('@timestamp', 'TEXT', 1)",
)
#: Events with what rebuilds them: the row (``_shape``, ``_rest``) or a format-1 document.
_READ = "SELECT e.*, d.doc FROM events e LEFT JOIN documents d ON d.rowid = e.rowid"


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
            # 16 KiB pages for a new file (an existing one keeps its size): fewer page splits
            # and page writes per inserted row than the 4 KiB default. Set before WAL mode.
            self.db.execute("PRAGMA page_size=16384")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache: the unique event.id index takes random inserts.
            self.db.execute("PRAGMA cache_size=-65536")
            self._prepare()
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
        # The internal columns take two names: a field called so stays in _rest.
        self._folded = {name.lower() for name, (_, has) in self._fields.items() if has}
        self._folded.update(INTERNAL_COLUMNS)
        self._shapes: dict[int, Shape] = {}
        self._bulk: _BulkLoad | None = None
        self._staging: sqlite_staging.StagingArea | None = None  # created by batch_encoder
        if self.path != ":memory:":
            with suppress(OSError):
                sqlite_staging.remove_leftovers(self.path)

    def _prepare(self) -> None:
        """Create the schema, or upgrade an older store to :data:`FORMAT` (one transaction):
        format 1 gets the two columns of format 2; before format 3 the events get their
        content hash and content-bound ids (:mod:`detect.stores.sqlite_ids`)."""
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version == FORMAT:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = self.db.execute("PRAGMA user_version").fetchone()
            if version > FORMAT:
                raise UnavailableError(
                    f"SQLite store {self.path} has format {version}; this version reads "
                    f"formats up to {FORMAT}"
                )
            if version < 2:
                columns = {
                    str(name).lower()
                    for (name,) in self.db.execute("SELECT name FROM pragma_table_info('events')")
                }
                if columns:  # format 1: add the two columns; old rows keep their documents
                    clash = [c for c in INTERNAL_COLUMNS if c in columns]
                    if clash:
                        raise UnavailableError(
                            f"cannot upgrade SQLite store {self.path}: a field column is "
                            f"named {clash[0]}"
                        )
                    self.db.execute(f"ALTER TABLE events ADD COLUMN {quote(SHAPE_COLUMN)} INTEGER")
                    self.db.execute(f"ALTER TABLE events ADD COLUMN {quote(REST_COLUMN)} TEXT")
            for statement in _SCHEMA:
                self.db.execute(statement)
            if version < 3:
                sqlite_ids.upgrade(self.db, MAX_COLUMNS)
            self.db.execute(f"PRAGMA user_version = {FORMAT}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

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
                if has or name.lower() in INTERNAL_COLUMNS:
                    continue
                self.db.execute(
                    f"ALTER TABLE events ADD COLUMN {quote(name)} {affinity} COLLATE NOCASE"
                )
                self._columns += 1
                self._folded.add(name.lower())
                rest = quote(REST_COLUMN)
                self.db.execute(
                    f"UPDATE events SET {quote(name)} = json_extract(coalesce({rest}, "
                    "(SELECT doc FROM documents WHERE documents.rowid = events.rowid)), ?)",
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
        """Store new events in one transaction; a known ``event.id`` is a duplicate when the
        stored event has the same content, else a collision (stored under its derived id; the
        contract in :mod:`detect.stores.base`).

        ``events`` may be an :class:`EncodedBatch` or a :class:`StagedBatch` (see
        :meth:`batch_encoder`); a plain batch is encoded here with the same function.
        Known ids (against the store and within the batch) are found by the unique index on
        ``event.id`` itself (``INSERT OR IGNORE``), not by a lookup before the insert; only
        when the insert skipped some rows are the skipped ones compared with what is stored.
        How many rows were stored is SQLite's count of changes, not the statement's
        ``rowcount`` (an ``executemany`` that failed half-way and was retried counted only
        the retry).
        """
        if isinstance(events, StagedBatch):
            if events.loaded is None and self._takes(events):
                return self._write_staged(events)
            events = events.load()  # the row path (new names, re-encoding)
        batch = events if isinstance(events, EncodedBatch) else encode_batch(events)
        result = WriteResult(rejected=list(batch.rejected))
        if not batch.ids:
            return result
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                before = self._last_rowid()
                stored = self._insert(batch)
                if stored < len(batch.rows) or batch.repeated:
                    self._settle(batch, before, result)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise UnavailableError(f"SQLite store {self.path}: {exc}") from exc
        result.stored += stored
        self._after_write(stored + result.collisions)
        return result

    def _last_rowid(self) -> int:
        (rowid,) = self.db.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()
        return int(rowid)

    def _settle(self, batch: EncodedBatch, before: int, result: WriteResult) -> None:
        """Inside the write's transaction, after the row path's insert: see
        :meth:`_settle_skipped`."""
        inserted = {
            ident
            for (ident,) in self.db.execute(
                'SELECT "event.id" FROM events WHERE rowid > ?', (before,)
            )
        }
        at_hash = batch.names.index("event.hash") if "event.hash" in batch.names else None
        skipped = [
            (ident, batch.rows[i][at_hash] if at_hash is not None else None, i)
            for i, ident in enumerate(batch.ids)
            if ident not in inserted
        ]
        self._settle_skipped(skipped, batch.__getitem__, batch.repeated, result)

    def _settle_staged(self, batch: StagedBatch, before: int, result: WriteResult) -> None:
        """:meth:`_settle` for a staged batch: the skipped rows are found and read in its
        attached file (only those)."""
        at_id = batch.names.index("event.id")
        digest = f"c{batch.names.index('event.hash')}" if "event.hash" in batch.names else "NULL"
        skipped = [
            (str(ident), declared, int(rowid))
            for rowid, ident, declared in self.db.execute(
                f"SELECT b.rowid, b.c{at_id}, {digest} FROM staged.batch b WHERE NOT EXISTS "
                f'(SELECT 1 FROM events e WHERE e."event.id" = b.c{at_id} AND e.rowid > ?)',
                (before,),
            )
        ]

        def event_at(rowid: int) -> Event:
            row = self.db.execute("SELECT * FROM staged.batch WHERE rowid = ?", (rowid,)).fetchone()
            rows = EncodedBatch(batch.names, [row], [""], batch.shapes, batch.kinds)
            return rows[0]

        self._settle_skipped(skipped, event_at, batch.repeated, result)

    def _settle_skipped(
        self,
        skipped: list[tuple[str, Any, int]],
        event_at: Callable[[int], Event],
        repeated: Sequence[Event],
        result: WriteResult,
    ) -> None:
        """The events a write did not insert (their id was stored, or came earlier in the
        batch) are duplicates when the stored event has the same content, and collisions
        otherwise (stored under their derived ids). ``skipped``: (id, the row's
        ``event.hash`` value, where ``event_at`` finds the event)."""
        held = self._held([*(ident for ident, _, _ in skipped), *(e["event.id"] for e in repeated)])
        differing: list[Event] = []
        for ident, declared, where in skipped:
            if isinstance(declared, str) and declared and held.get(ident) == declared:
                result.duplicates += 1
            else:
                differing.append(event_at(where))
        for event in repeated:
            if held.get(event["event.id"]) == content_digest(event):
                result.duplicates += 1
            else:
                differing.append(event)
        if not differing:
            return
        retry, duplicates, rejected = settle(differing, self._held)
        result.duplicates += duplicates
        result.rejected.extend(rejected)
        if retry:
            extra = encode_batch(retry)
            result.rejected.extend(extra.rejected)
            count = self._insert(extra)
            result.collisions += count
            # Ids checked free a moment ago in this transaction: nothing else can take them.
            result.rejected.extend(
                (e, "event id taken while storing a collision") for e in extra.repeated
            )
            if count != len(extra.rows):
                raise InputError("collision ids were taken inside one transaction")

    def _held(self, ids: Sequence[str]) -> dict[str, str]:
        """The content digests (:func:`content_digest`) stored under these ids."""
        out: dict[str, str] = {}
        rebuild: list[str] = []
        has_hash = self._fields.get("event.hash", ("", False))[1]
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            if not has_hash:
                rebuild.extend(chunk)
                continue
            marks = ",".join("?" * len(chunk))
            sql = f'SELECT "event.id", "event.hash" FROM events WHERE "event.id" IN ({marks})'
            for ident, digest in self.db.execute(sql, chunk):
                if isinstance(digest, str) and digest:
                    out[ident] = digest
                else:
                    rebuild.append(ident)
        for event in self._read_in('e."event.id"', rebuild, ""):
            out[event["event.id"]] = content_digest(event)
        return out

    def _takes(self, batch: StagedBatch) -> bool:
        """Whether a staged batch's rows can be copied as they are: every name is known and
        no name's values need re-encoding for its column (what :meth:`_rows` checks)."""
        known = self._fields
        return all(name in known for name in batch.names) and not (
            conflicts(batch.kinds, known) - batch.rest
        )

    def _write_staged(self, batch: StagedBatch) -> WriteResult:
        """Copy a staged batch's rows with one statement from its attached file, in input
        order; the file is removed afterwards."""
        result = WriteResult(rejected=list(batch.rejected))
        keep = [k for k, name in enumerate(batch.names) if self._fields[name][1]]
        names = [*(quote(batch.names[k]) for k in keep), quote(SHAPE_COLUMN), quote(REST_COLUMN)]
        select = ", ".join([*(f"c{k}" for k in keep), "s", "r"])
        sql = (
            f"INSERT OR IGNORE INTO events ({', '.join(names)}) "
            f"SELECT {select} FROM staged.batch ORDER BY rowid"
        )
        try:
            self.db.execute("ATTACH DATABASE ? AS staged", (batch.path,))
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    self._add_shapes(batch.shapes)
                    before, changes = self._last_rowid(), self.db.total_changes
                    self.db.execute(sql)
                    stored = self.db.total_changes - changes
                    if stored < batch.size or batch.repeated:
                        self._settle_staged(batch, before, result)
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
            finally:
                self.db.execute("DETACH DATABASE staged")
        except sqlite3.OperationalError as exc:
            raise UnavailableError(f"SQLite store {self.path}: {exc}") from exc
        batch.discard()
        result.stored += stored
        self._after_write(stored + result.collisions)
        return result

    def batch_encoder(self) -> Callable[[Sequence[Event]], Sequence[Event]]:
        """What a worker process runs to encode batches for :meth:`write`: for a store in a
        file, :func:`stage_batch` into this instance's staging directory (rows handed over in
        a file, :mod:`detect.stores.sqlite_staging`); in memory, :func:`encode_batch`."""
        if self.path == ":memory:":
            return encode_batch
        if self._staging is None:
            self._staging = sqlite_staging.StagingArea(self.path)
        directory = str(self._staging.directory)
        return partial(stage_batch, directory, min_rows=sqlite_staging.MIN_ROWS)

    def _rows(self, batch: EncodedBatch) -> tuple[EncodedBatch, list[str], Sequence[Sequence[Any]]]:
        """The batch as the columns can hold it, the field names it writes, its rows cut to them.

        New field names get their column first (affinity from the first value an event of
        the batch has for it); names without a column (beyond the cap, differing only in case
        from a column, or an internal column's name) are cut from the rows. A batch encoded
        without knowing the columns (a parse worker's) is encoded again when some name's
        values cannot be read back exactly from its column (text in a NUMERIC column, a value
        of a name without a column): those values go to ``_rest``.
        """
        known = self._fields
        new = [name for name in batch.names if name not in known]
        if new:
            self._add_fields(batch.first_values(new))
        bad = conflicts(batch.kinds, known) - batch.rest
        if bad:
            batch = encode_batch(batch[: len(batch.ids)], rest=batch.rest | bad)
        keep = [i for i, name in enumerate(batch.names) if name in known and known[name][1]]
        names = [batch.names[i] for i in keep]
        if len(keep) == len(batch.names):
            return batch, names, batch.rows
        keep += [len(batch.names), len(batch.names) + 1]  # _shape, _rest
        return batch, names, [[row[i] for i in keep] for row in batch.rows]

    def _add_shapes(self, shapes: dict[int, str]) -> None:
        """Record the batch's shapes; a different shape under a known id is refused."""
        for sid, text in shapes.items():
            if sid in self._shapes:
                continue
            self.db.execute("INSERT OR IGNORE INTO shapes VALUES (?, ?)", (sid, text))
            (stored,) = self.db.execute("SELECT shape FROM shapes WHERE id = ?", (sid,)).fetchone()
            if stored != text:  # 64-bit digests of two shapes collided: never seen
                raise InputError(f"shape id {sid} collides with a stored shape")
            self._shapes[sid] = parse_shape(text)

    def _insert(self, batch: EncodedBatch) -> int:
        """Insert the batch's rows (ids distinct); returns how many were new."""
        batch, names, rows = self._rows(batch)
        self._add_shapes(batch.shapes)
        columns = ", ".join(quote(n) for n in [*names, SHAPE_COLUMN, REST_COLUMN])
        marks = ", ".join("?" * (len(names) + 2))
        # No rowid given: SQLite assigns max(rowid) + 1 to each row, in order.
        sql = f"INSERT OR IGNORE INTO events ({columns}) VALUES ({marks})"
        changes = self.db.total_changes
        try:
            self.db.executemany(sql, rows)
        except OverflowError:  # an integer beyond 64 bits: store those as text
            # The rows before the one that overflowed are inserted already; the retry skips
            # them, which is why the count comes from total_changes.
            rows = [[column_value(v) for v in row] for row in rows]
            self.db.executemany(sql, rows)
        return self.db.total_changes - changes

    def _shape(self, sid: int) -> Shape:
        shape = self._shapes.get(sid)
        if shape is None:
            found = self.db.execute("SELECT shape FROM shapes WHERE id = ?", (sid,)).fetchone()
            if found is None:
                raise UnavailableError(f"SQLite store {self.path}: unknown shape {sid}")
            shape = self._shapes[sid] = parse_shape(found[0])
        return shape

    def _read(self, sql: str, params: Sequence[Any]) -> list[Event]:
        """The events of ``sql`` (a :data:`_READ` statement), rebuilt exactly as written."""
        cursor = self.db.execute(sql, params)
        columns = [d[0] for d in cursor.description][:-1]  # the last one is the document
        at_shape, at_rest = columns.index(SHAPE_COLUMN), columns.index(REST_COLUMN)
        plans: dict[int, tuple[Shape, dict[str, int]]] = {}
        out: list[Event] = []
        for row in cursor:
            sid = row[at_shape]
            if sid is None:  # written before format 2
                out.append(json.loads(row[-1]))
                continue
            plan = plans.get(sid)
            if plan is None:
                shape = self._shape(sid)
                plan = plans[sid] = (shape, positions(shape, columns))
            shape, where = plan
            out.append(rebuild(shape, lambda k: row[where[k]], row[at_rest], from_text=True))  # noqa: B023
        return out

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
                target = f"json_extract(coalesce(e.{quote(REST_COLUMN)}, {doc}), {literal})"
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
        sql = f'{_READ}{where} ORDER BY e."@timestamp", e."event.id" LIMIT ?'
        return self._read(sql, [*params, query.limit])

    def by_ids(self, ids: Sequence[str]) -> list[Event]:
        """Events with exactly these ids, via the unique ``event.id`` index (FetchesByIds).

        ``search`` compares case-insensitively (and element-wise for lists), which the BINARY
        id index cannot serve: at a million events an id lookup through it walks the table.
        An id an event had before its store was upgraded to format 3 (``legacy_ids``) finds
        the event under its current id, so alerts raised before the upgrade keep their
        evidence.
        """
        wanted = list(dict.fromkeys(ids))
        found = self._read_in('e."event.id"', wanted, "")
        missing = set(wanted).difference(e["event.id"] for e in found)
        if missing:
            current: list[str] = []
            for i in range(0, len(wanted), 500):
                chunk = [w for w in wanted[i : i + 500] if w in missing]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT new FROM legacy_ids WHERE old IN ({marks})"
                current.extend(new for (new,) in self.db.execute(sql, chunk))
            known = {e["event.id"] for e in found}
            found.extend(self._read_in('e."event.id"', [c for c in current if c not in known], ""))
        return found

    def count(self, query: Query | None = None) -> int:
        where, params = self._where(query or Query())
        (total,) = self.db.execute(f"SELECT count(*) FROM events e{where}", params).fetchone()
        return int(total)

    def close(self) -> None:
        self.db.close()
        if self._staging is not None:
            self._staging.remove()
            self._staging = None

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
        return self._read_in("e.rowid", list(rowids), " ORDER BY e.rowid")

    def _read_in(self, column: str, values: list[Any], order: str) -> list[Event]:
        """Events whose ``column`` is one of ``values``, read 500 values per statement."""
        out: list[Event] = []
        for i in range(0, len(values), 500):
            chunk = values[i : i + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(self._read(f"{_READ} WHERE {column} IN ({marks}){order}", chunk))
        return out


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")
