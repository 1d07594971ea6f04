"""Encoded batches handed over as small SQLite files instead of pickled rows.

A parse worker that encodes batches for the SQLite store (:func:`stage_batch`) also writes
each batch's rows into a staging file: one table ``batch`` with a column per batch name
(``c0``, ``c1``, ... in :attr:`EncodedBatch.names` order, declared without a type so every
value is kept exactly as bound), then ``s`` (the shape id) and ``r`` (``_rest``), one row per
stored event in input order (``rowid`` order). It returns a :class:`StagedBatch`: the batch's
metadata (names, shapes, kinds, repeated and rejected events, the row count) and the file's
path. The writer copies the rows with one ``INSERT OR IGNORE ... SELECT`` from the attached
file (:meth:`SQLiteStore.write <detect.stores.sqlite.SQLiteStore.write>`), which is cheaper
than ``executemany`` of the same rows, and the rows never cross the process boundary.

The values bound into the staging table are the ones ``executemany`` would bind into
``events``; the ``events`` columns apply their affinity to either the same way, so both paths
store the same rows. Whatever the staging path cannot take (an integer beyond 64 bits, a
batch with new field names or names needing re-encoding, a store that is down) goes through
the row path: :meth:`StagedBatch.load` reads the rows back into an :class:`EncodedBatch`
(and removes the file).

Files live in a private directory per store instance (:func:`directory_for`), next to the
database; the writer removes each file after its copy, the store removes its directory on
close, and opening a store removes directories left by processes that no longer run.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
import weakref
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from detect.stores.sqlite_batch import EncodedBatch, encode_batch
from tulou.events import Event

#: Batches with fewer stored rows than this are returned as rows (a file costs more).
MIN_ROWS = 64


def staging_root(database: str) -> Path:
    """The directory holding the staging directories of a database file."""
    path = Path(database).absolute()  # workers and the writer agree whatever their cwd
    return path.parent / f".{path.name}.staging"


def directory_for(database: str) -> Path:
    """A new private staging directory for one store instance (``<pid>-<random>``)."""
    root = staging_root(database)
    root.mkdir(mode=0o700, exist_ok=True)
    path = root / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    return path


def _remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    with suppress(OSError):
        directory.parent.rmdir()  # the root too, when no other instance uses it


class StagingArea:
    """One store instance's staging directory (:func:`directory_for`); removed by
    :meth:`remove`, or when the area is garbage-collected or the interpreter exits."""

    def __init__(self, database: str) -> None:
        self.directory = directory_for(database)
        self._finalizer = weakref.finalize(self, _remove, self.directory)

    def remove(self) -> None:
        self._finalizer()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(database: str) -> None:
    """Remove staging directories whose process no longer runs (a crashed earlier run)."""
    root = staging_root(database)
    if not root.is_dir():
        return
    for entry in root.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and (int(pid) == os.getpid() or _running(int(pid))):
            continue  # this process's or a running one's
        shutil.rmtree(entry, ignore_errors=True)


@dataclass(eq=False)
class StagedBatch(Sequence[Event]):
    """An encoded batch whose rows wait in a staging file (see the module docstring).

    ``size`` rows (the distinct valid events), then ``repeated`` and ``rejected`` as in
    :class:`EncodedBatch`; as a sequence it gives the same events in the same order.
    """

    names: tuple[str, ...]
    path: str
    size: int
    shapes: dict[int, str]
    kinds: dict[str, str]
    repeated: list[Event] = field(default_factory=list)
    rejected: list[tuple[Event, str]] = field(default_factory=list)
    rest: frozenset[str] = frozenset()
    _loaded: EncodedBatch | None = None

    @property
    def loaded(self) -> EncodedBatch | None:
        """The rows read back by :meth:`load`, if they were."""
        return self._loaded

    def load(self) -> EncodedBatch:
        """The batch as rows (read once from the file, which is then removed)."""
        if self._loaded is None:
            db = sqlite3.connect(self.path)
            try:
                rows = list(db.execute("SELECT * FROM batch ORDER BY rowid"))
            finally:
                db.close()
            at = self.names.index("event.id")
            ids = [str(row[at]) for row in rows]
            self._loaded = EncodedBatch(
                self.names, rows, ids, self.shapes, self.kinds, self.repeated, self.rejected,
                self.rest,
            )  # fmt: skip
            self.discard()
        return self._loaded

    def discard(self) -> None:
        """Remove the staging file (if it is still there)."""
        Path(self.path).unlink(missing_ok=True)

    def __len__(self) -> int:
        return self.size + len(self.repeated) + len(self.rejected)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        return self.load()[index]

    def first_values(self, names: Iterable[str]) -> dict[str, Any]:
        return self.load().first_values(names)


def stage_batch(
    directory: str, events: Sequence[Event], min_rows: int = MIN_ROWS
) -> Sequence[Event]:
    """:func:`encode_batch`, its rows written to a new file in ``directory``.

    Returns a :class:`StagedBatch`, or the :class:`EncodedBatch` itself when the batch has
    fewer than ``min_rows`` rows or its rows cannot be staged (nothing is lost either way).
    """
    batch = encode_batch(events)
    if len(batch.rows) < max(min_rows, 1):
        return batch
    path = os.path.join(directory, uuid.uuid4().hex + ".db")
    width = len(batch.names)
    columns = ", ".join([*(f"c{k}" for k in range(width)), "s", "r"])
    marks = ", ".join("?" * (width + 2))
    try:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute(f"CREATE TABLE batch ({columns})")
            db.execute("BEGIN")
            db.executemany(f"INSERT INTO batch VALUES ({marks})", batch.rows)  # noqa: S608
            db.execute("COMMIT")
        finally:
            db.close()
    except (OverflowError, sqlite3.Error, OSError):  # e.g. an integer beyond 64 bits
        Path(path).unlink(missing_ok=True)
        return batch
    return StagedBatch(
        batch.names, path, len(batch.rows), batch.shapes, batch.kinds, batch.repeated,
        batch.rejected, batch.rest,
    )  # fmt: skip
