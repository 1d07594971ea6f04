"""Upgrading a SQLite store written before event ids were bound to content (format 2 -> 3).

Before format 3 an event's id was ``event_id(dataset:identity, position)`` with the identity
the SHA-256 of the input's first line: two inputs with the same first line (most EVTX files,
pcaps with the same first packet, two hosts' copies of a log) got the same ids, and the
second input's events were counted as duplicates and not stored. Now every event carries
``event.hash`` and its id is ``record_id(old id, event.hash)`` (detect/model.py).

For the datasets whose ``event.original`` is the record itself
(:data:`detect.model.SELF_CONTAINED_DATASETS`: every format but captures) the new id and
hash follow from the stored event alone, so opening an older store upgrades it in place, in
the transaction that sets the format: each such event gets ``event.hash`` (added after
``event.original``; format-1 rows in their document) and its new id, and the table
``legacy_ids(old, new)`` keeps the old id so that alerts that named it still find the event
(:meth:`SQLiteStore.by_ids <detect.stores.sqlite.SQLiteStore.by_ids>`). Re-ingesting the
inputs afterwards finds every event already stored as a duplicate and stores exactly the
events the old scheme had dropped.

Capture events (``pcap``) name a packet position, not their content: their new ids use the
whole-file digest, which the store does not have. They keep their old ids; re-ingesting such
a capture stores its events again under the new ids (the old copies stay; docs/detect.md).
"""

# Identifiers are constants or quote()d; values are bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3

from detect.model import SELF_CONTAINED_DATASETS, content_hash, upgraded_id
from detect.stores.sqlite_shapes import parse_shape, shape_id, shape_text

HASH = "event.hash"
LEGACY_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS legacy_ids (old TEXT PRIMARY KEY, new TEXT NOT NULL) WITHOUT ROWID"
)


def upgrade(db: sqlite3.Connection, max_columns: int) -> int:
    """Give the self-contained events of a pre-format-3 store their hash and new id (inside
    the caller's transaction); returns how many events were upgraded."""
    db.execute(LEGACY_SCHEMA)
    columns = [str(name) for (name,) in db.execute("SELECT name FROM pragma_table_info('events')")]
    if "event.dataset" not in columns or "event.original" not in columns:
        return 0  # a new, empty store
    where, params = _upgradable(""), list(SELF_CONTAINED_DATASETS)
    (count,) = db.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()
    if not count:
        return 0
    db.create_function("tulou_hash", 1, content_hash, deterministic=True)
    db.create_function("tulou_upgraded_id", 2, upgraded_id, deterministic=True)
    kind = "s" if _hash_column(db, columns, max_columns) else "r"
    _map_shapes(db, params, kind)
    db.execute(
        'INSERT OR IGNORE INTO legacy_ids SELECT "event.id", '
        f'tulou_upgraded_id("event.id", "event.original") FROM events WHERE {where}',
        params,
    )
    old = "json_extract(doc, '$.\"event.original\"')"
    db.execute(
        "UPDATE documents SET doc = json_set(doc, '$.\"event.id\"', "
        f"tulou_upgraded_id(json_extract(doc, '$.\"event.id\"'), {old}), "
        f"'$.\"event.hash\"', tulou_hash({old})) "
        f"WHERE rowid IN (SELECT rowid FROM events WHERE {where} AND _shape IS NULL)",
        params,
    )
    digest = 'tulou_hash("event.original")'
    assignments = [
        '"event.id" = tulou_upgraded_id("event.id", "event.original")',
        "_shape = coalesce((SELECT new FROM temp.shape_map m WHERE m.old = events._shape), _shape)",
    ]
    if kind == "s":
        assignments.append(f'"event.hash" = {digest}')
    else:  # no column for it: the value lives in _rest (format-2 rows) or the document
        assignments.append(
            f"_rest = CASE WHEN _shape IS NULL THEN _rest "
            f"ELSE json_set(coalesce(_rest, '{{}}'), '$.\"event.hash\"', {digest}) END"
        )
    db.execute(f"UPDATE events SET {', '.join(assignments)} WHERE {where}", params)
    db.execute("DROP TABLE temp.shape_map")
    return int(count)


def _hash_column(db: sqlite3.Connection, columns: list[str], max_columns: int) -> bool:
    """Whether ``event.hash`` has (or now gets) a column of its own."""
    if HASH in columns:
        return True
    folded = {c.lower() for c in columns}
    fields = len(columns) - 3  # rowid is not listed; _shape and _rest are not fields
    if HASH in folded or fields >= max_columns:
        db.execute("INSERT OR IGNORE INTO fields VALUES (?, 'TEXT', 0)", (HASH,))
        return False
    db.execute(f'ALTER TABLE events ADD COLUMN "{HASH}" TEXT COLLATE NOCASE')
    db.execute("INSERT OR REPLACE INTO fields VALUES (?, 'TEXT', 1)", (HASH,))
    return True


def _upgradable(table: str) -> str:
    """The condition for a row to upgrade (``table``: a prefix such as ``"e."``)."""
    marks = ",".join("?" * len(SELF_CONTAINED_DATASETS))
    return f'{table}"event.dataset" IN ({marks}) AND typeof({table}"event.original") = \'text\''


def _map_shapes(db: sqlite3.Connection, params: list[str], kind: str) -> None:
    """``temp.shape_map(old, new)``: each shape of an upgraded row with ``event.hash``
    inserted after ``event.original``."""
    db.execute("CREATE TEMP TABLE shape_map (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
    used = db.execute(
        "SELECT DISTINCT s.id, s.shape FROM shapes s JOIN events e ON e._shape = s.id "
        f"WHERE {_upgradable('e.')}",
        params,
    ).fetchall()
    for sid, text in used:
        keys, kinds = parse_shape(text)
        if HASH in keys:
            continue
        at = keys.index("event.original") + 1
        new = ((*keys[:at], HASH, *keys[at:]), kinds[:at] + kind + kinds[at:])
        new_text = shape_text(new)
        new_id = shape_id(new_text)
        db.execute("INSERT OR IGNORE INTO shapes VALUES (?, ?)", (new_id, new_text))
        (stored,) = db.execute("SELECT shape FROM shapes WHERE id = ?", (new_id,)).fetchone()
        if stored != new_text:
            raise sqlite3.IntegrityError(f"shape id {new_id} collides with a stored shape")
        db.execute("INSERT INTO temp.shape_map VALUES (?, ?)", (sid, new_id))
