"""The SOC data version: a counter that every committed change to what the queue shows bumps.

One row (``soc_data_version``, id 1). Database triggers add 1 for every inserted, updated or
deleted alert or alert tag and every updated or deleted user (the queue shows assignee names),
in the writer's own transaction, so the new value becomes visible exactly when the change does.
:mod:`soc.hot_cache` tags each cached response with the version read *before* the data (in the
same session): a cached body is therefore never older than its tag, and any later change makes
the tag stale. Nothing in Python has to remember to bump it.

On PostgreSQL the triggers are deferred constraint triggers: the counter row is locked at
commit, after every other lock the transaction takes, so it adds no lock-order cycle (a
plain trigger would lock it mid-transaction and could deadlock two bulk actions).

This module is the SQL of migration 0003 (a change is a new migration, never an edit here).
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from soc.models import DataVersion

#: (table, operations) whose rows the cached responses show.
WATCHED = (("alerts", "INSERT", "UPDATE", "DELETE"), ("alert_tags", "INSERT", "DELETE"))
WATCHED_USERS = ("users", "UPDATE", "DELETE")
_BUMP = "UPDATE soc_data_version SET version = version + 1 WHERE id = 1"


def current(session: Session) -> int:
    """The data version as this session sees it (read it before the data it tags)."""
    return int(session.scalar(select(DataVersion.version).where(DataVersion.id == 1)) or 0)


def _names() -> list[tuple[str, str]]:
    return [(table, op) for table, *ops in (*WATCHED, WATCHED_USERS) for op in ops]


def install(connection: Connection) -> None:
    connection.exec_driver_sql("INSERT INTO soc_data_version (id, version) VALUES (1, 0)")
    if connection.dialect.name == "sqlite":
        for table, op in _names():
            connection.exec_driver_sql(
                f"CREATE TRIGGER soc_data_version_{table}_{op.lower()} AFTER {op} ON {table} "
                f"BEGIN {_BUMP}; END"
            )
        return
    connection.exec_driver_sql(
        "CREATE FUNCTION soc_data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {_BUMP}; RETURN NULL; END $$"
    )
    for table, op in _names():
        connection.exec_driver_sql(
            f"CREATE CONSTRAINT TRIGGER soc_data_version_{table}_{op.lower()} AFTER {op} "
            f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION soc_data_version_bump()"
        )


def uninstall(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    for table, op in _names():
        name = f"soc_data_version_{table}_{op.lower()}"
        connection.exec_driver_sql(
            f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}")
        )
    if not sqlite:
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS soc_data_version_bump()")
