"""The SOC database: engines, sessions and migrations, for SQLite and PostgreSQL alike.

SQLite (the embedded default) gets WAL, foreign keys and a busy timeout; transactions that
write begin with ``BEGIN IMMEDIATE`` (a separate writer engine) so that a read-then-write
transaction never fails half-way with "database is locked" when another writer committed in
between. PostgreSQL needs neither: row locks and ``UPDATE ... WHERE version = ?`` serialise the
writers that must be serialised.

The schema is owned by Alembic (``soc/migrations``); :meth:`Database.upgrade` brings any
database to the newest revision and is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from tulou.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` use psycopg 3; anything else is taken as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    # As many connections as the server has worker threads (40 in Starlette's threadpool).
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=30,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) issue BEGIN itself instead of the driver's implicit one.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """One SOC database. ``read()`` and ``write()`` give sessions that commit on success."""

    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError("the SOC database URL is not a valid SQLAlchemy URL") from exc
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(url, immediate=False)
            self._write_engine = _sqlite_engine(url, immediate=True)
        elif self.dialect == "postgresql":
            self.engine = create_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True)
            self._write_engine = self.engine
        else:
            raise ConfigError(f"unsupported SOC database {self.dialect!r} (sqlite or postgresql)")
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)

    def __repr__(self) -> str:
        # The URL may hold a password: never show it.
        return f"Database(dialect={self.dialect!r})"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._writer() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Apply every Alembic migration not applied yet."""
        with self._write_engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()
        self._write_engine.dispose()


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'soc' / 'soc.db').resolve()}"
