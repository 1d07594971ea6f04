"""Secondary indexes of the SQLite event table set aside during a bulk load, then rebuilt.

Keeping ten indexes up to date row by row costs more than building them once by sorting
(``CREATE INDEX``) when a load at least doubles the table. :func:`set_aside` drops every index
on ``events`` except the unique ``event.id`` index (duplicates are found by it during the
load) and records each one's ``CREATE`` statement in ``deferred_indexes`` in the same
transaction; :func:`rebuild` creates the recorded ones that do not exist again and forgets
them, also in one transaction. So at any moment every index is either present or recorded:
a load that dies in between leaves the records, and opening the store rebuilds them.

Indexes change how fast queries run, never what they return.
"""

from __future__ import annotations

import sqlite3

#: The index that is never set aside: it is the duplicate check.
UNIQUE_INDEX = "events_event.id"

SCHEMA = "CREATE TABLE IF NOT EXISTS deferred_indexes (name TEXT PRIMARY KEY, sql TEXT NOT NULL)"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def set_aside(db: sqlite3.Connection) -> list[str]:
    """Drop the secondary indexes of ``events``, recording them; returns their names."""
    db.execute("BEGIN IMMEDIATE")
    try:
        found = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
            "AND sql IS NOT NULL AND name != ?",
            (UNIQUE_INDEX,),
        ).fetchall()
        for name, sql in found:
            db.execute("INSERT OR REPLACE INTO deferred_indexes VALUES (?, ?)", (name, sql))
            db.execute(f"DROP INDEX {_quote(name)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return [name for name, _ in found]


def defer(db: sqlite3.Connection, name: str, sql: str) -> None:
    """Record an index to build at the end of the load instead of now (inside a transaction)."""
    db.execute("INSERT OR REPLACE INTO deferred_indexes VALUES (?, ?)", (name, sql))


def pending(db: sqlite3.Connection) -> list[str]:
    """Names of the indexes recorded and not rebuilt yet."""
    return [name for (name,) in db.execute("SELECT name FROM deferred_indexes ORDER BY name")]


def rebuild(db: sqlite3.Connection) -> list[str]:
    """Create every recorded index that does not exist (another process may have made it
    already) and forget the records; returns the names created."""
    db.execute("BEGIN IMMEDIATE")
    try:
        made = []
        for name, sql in db.execute("SELECT name, sql FROM deferred_indexes").fetchall():
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
            ).fetchone()
            if exists is None:
                db.execute(sql)
                made.append(name)
        db.execute("DELETE FROM deferred_indexes")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return made
