"""Backup sources: what a snapshot contains, each taken consistently into a staging folder.

Kinds (the ``kind`` of a ``[[sources]]`` table in the policy):

- ``path``: files and directories, read in place.
- ``sqlite``: a SQLite database (the SOC database by default) copied with SQLite's online
  backup API, which yields a consistent image while writers continue; the copy's
  ``PRAGMA integrity_check`` and per-table row counts are recorded for drills to compare.
- ``postgres``: ``pg_dump --format=custom`` of the database whose URL is in the environment
  variable named by ``url_env`` (the password goes to pg_dump through ``PGPASSWORD``, never argv).
- ``elasticsearch``: an Elasticsearch snapshot (the snapshot API, ``fs`` repository whose
  ``repository_path`` must be listed in the node's ``path.repo``) of ``indices``; the
  repository folder is then backed up, and the document count of every index is recorded.
- ``tulou``: Tulou's own configuration file and key store folder.

:func:`prepare` returns what to archive and the metadata stored in the snapshot body.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from backup import elastic
from tulou.errors import ConfigError, InputError, UnavailableError

KINDS = ("path", "sqlite", "postgres", "elasticsearch", "tulou")


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"source {self.name!r}: unknown kind {self.kind!r}; known: {KINDS}")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(f"source name {self.name!r} must be a plain name")

    def path(self, key: str = "path") -> Path:
        value = self.options.get(key)
        if not value:
            raise ConfigError(f"source {self.name!r} ({self.kind}) needs {key!r}")
        return Path(str(value)).expanduser()


@dataclass
class Prepared:
    name: str
    path: Path
    meta: dict[str, Any]


def prepare(source: Source, staging: Path, snapshot_tag: str) -> Prepared:
    """Take the source consistently; return the path to archive under the source's name."""
    meta: dict[str, Any] = {"kind": source.kind}
    if source.kind == "path":
        path = source.path()
        if not path.exists():
            raise InputError(f"source {source.name!r}: {path} does not exist")
        return Prepared(source.name, path, meta)
    folder = staging / source.name
    folder.mkdir(parents=True)
    if source.kind == "sqlite":
        meta.update(sqlite_copy(source.path(), folder / source.path().name))
        meta["file"] = source.path().name
    elif source.kind == "postgres":
        meta.update(pg_dump(source, folder / "database.dump"))
    elif source.kind == "elasticsearch":
        meta.update(elastic.snapshot(source.options, source.name, snapshot_tag))
        return Prepared(source.name, Path(str(source.options["repository_path"])), meta)
    elif source.kind == "tulou":
        config = source.options.get("config_file")
        if config and Path(config).is_file():
            shutil.copy2(config, folder / "tulou.toml")
            meta["config_file"] = str(config)
        keystore = source.options.get("keystore")
        if keystore and Path(keystore).is_dir():
            shutil.copytree(keystore, folder / "keystore", symlinks=True)
            meta["keystore"] = str(keystore)
        if len(meta) == 1:
            raise InputError(f"source {source.name!r}: neither config_file nor keystore exists")
    return Prepared(source.name, folder, meta)


def sqlite_facts(path: Path) -> dict[str, Any]:
    """``integrity`` (the result of PRAGMA integrity_check) and row counts per table."""
    uri = f"file:{path}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"cannot open {path}: {exc}") from exc
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {
            t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608
            for t in sorted(tables)
        }
    except sqlite3.DatabaseError as exc:
        return {"integrity": f"error: {exc}", "tables": {}}
    finally:
        con.close()
    return {"integrity": integrity, "tables": counts}


def sqlite_copy(src: Path, dst: Path) -> dict[str, Any]:
    """Copy a live SQLite database with the online backup API; return its facts."""
    if not src.is_file():
        raise InputError(f"SQLite database {src} does not exist")
    try:
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        target = sqlite3.connect(dst)
        with target:
            source.backup(target)
        source.close()
        target.close()
    except sqlite3.Error as exc:
        raise InputError(f"cannot back up SQLite database {src}: {exc}") from exc
    facts = sqlite_facts(dst)
    if facts["integrity"] != "ok":
        raise InputError(f"SQLite database {src} fails its integrity check: {facts['integrity']}")
    return facts


def _pg_env(source: Source) -> tuple[list[str], dict[str, str]]:
    env_name = str(source.options.get("url_env", "TULOU_DB_URL"))
    url = os.environ.get(env_name)
    if not url:
        raise ConfigError(f"source {source.name!r}: environment variable {env_name} is not set")
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)  # never on the command line
    args = ["-h", parts.hostname or "localhost", "-p", str(parts.port or 5432)]
    if parts.username:
        args += ["-U", unquote(parts.username)]
    return [*args, "-d", parts.path.lstrip("/")], env


def pg_dump(source: Source, dst: Path) -> dict[str, Any]:
    args, env = _pg_env(source)
    binary = shutil.which("pg_dump")
    if binary is None:
        raise UnavailableError("pg_dump not found (Debian package postgresql-client)")
    done = subprocess.run(
        [binary, "--format=custom", "--no-password", "-f", str(dst), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UnavailableError(f"pg_dump failed: {done.stderr.strip()[-500:]}")
    listing = subprocess.run(
        [shutil.which("pg_restore") or "pg_restore", "--list", str(dst)],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise InputError(f"pg_dump wrote an unreadable archive: {listing.stderr.strip()[-300:]}")
    entries = [line for line in listing.stdout.splitlines() if line and not line.startswith(";")]
    return {"format": "pg_dump custom", "toc_entries": len(entries)}
