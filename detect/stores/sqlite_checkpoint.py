"""WAL checkpoints of a bulk load, run by a background thread instead of the writer.

In WAL mode with ``synchronous=NORMAL`` a commit appends to the WAL file without an fsync;
the fsyncs happen at checkpoints (copying WAL pages into the database file). By default the
committing connection checkpoints every 1,000 pages, so a bulk load of a few hundred MB
stops the writer for every fsync. During a bulk load the writer turns its automatic
checkpoints off and a :class:`BackgroundCheckpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)``
every :data:`INTERVAL` seconds on its own connection (SQLite releases the GIL while it
copies and syncs), so inserting and syncing overlap.

Durability is unchanged: committed transactions are in the WAL (they survive the process
dying) and reach the database file at the next checkpoint, with the same fsyncs, only done by
another thread; the WAL grows to what the writer appends in one interval plus what a
checkpoint could not copy yet. A passive checkpoint never waits for or blocks the writer.
"""

from __future__ import annotations

import sqlite3
import threading

#: Seconds between two background checkpoints.
INTERVAL = 0.25
#: The writer's automatic checkpoint threshold outside bulk loads (SQLite's default, pages).
AUTOCHECKPOINT_PAGES = 1000


class BackgroundCheckpointer:
    """A thread that checkpoints the WAL of the database at ``path`` until :meth:`stop`."""

    def __init__(self, path: str, interval: float | None = None) -> None:
        self.path = path
        self.interval = INTERVAL if interval is None else interval
        self.checkpoints = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:  # the writer's own checkpoints take over at stop()
            self.error = str(exc)
            return
        try:
            while not self._stop.wait(self.interval):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.checkpoints += 1
        except sqlite3.Error as exc:
            self.error = str(exc)
        finally:
            db.close()

    def stop(self) -> None:
        """Stop the thread (waits for a checkpoint in progress)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
