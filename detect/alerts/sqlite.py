"""The alerts table: alerts kept in SQLite with the schema the SOC ingests (``Alert.to_dict``).

Table ``alerts``: ``alert_id`` (primary key: idempotent delivery), the scalar fields as
columns for querying, and ``body`` = the JSON of ``Alert.to_dict()`` (what :meth:`alerts`
returns, field for field).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from detect.alerts.base import DeliveryResult
from tulou.contracts.alert import Alert
from tulou.errors import UnavailableError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    rule_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    level TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_dedup ON alerts (dedup_key, first_seen);
"""


class SqliteAlertSink:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UnavailableError(f"cannot open alerts table {self.path}: {exc}") from exc

    def deliver(self, alerts: Sequence[Alert]) -> DeliveryResult:
        result = DeliveryResult()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            for alert in alerts:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        alert.alert_id,
                        alert.rule_id,
                        alert.rule_hash,
                        alert.title,
                        alert.level,
                        alert.dedup_key,
                        alert.first_seen,
                        alert.last_seen,
                        json.dumps(alert.to_dict(), sort_keys=True, default=str),
                    ),
                )
                if cursor.rowcount:
                    result.delivered += 1
                else:
                    result.duplicates += 1
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise UnavailableError(f"alerts table {self.path}: {exc}") from exc
        return result

    def alerts(self) -> list[Alert]:
        rows = self.db.execute("SELECT body FROM alerts ORDER BY first_seen, alert_id")
        return [Alert.from_dict(json.loads(body)) for (body,) in rows]

    def close(self) -> None:
        self.db.close()
