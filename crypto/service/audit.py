"""The service's audit log: one ECS JSON line per operation, success or refusal.

Written to ``<data_dir>/crypto-service/audit.jsonl`` (configurable), one ``write`` per line
with ``O_APPEND``; detect ingests it with the ``crypto.audit`` parser. Fields (flat ECS):
``@timestamp``, ``event.id``, ``event.kind: event``, ``event.module: crypto``,
``event.dataset: crypto.service``, ``observer.product: tulou-crypto``, ``event.category``,
``event.type``, ``event.action`` (the operation, e.g. ``encrypt``), ``event.outcome``
(``success`` / ``failure``), ``error.code`` (the service error code on failure),
``event.reason`` (the short message), ``user.name`` (caller), ``user.roles``,
``tulou.caller.kind`` (``service`` / ``user``), ``source.ip``, ``http.request.id``,
``tulou.tenant``, ``tulou.key.path``, ``tulou.key.id`` (``path@vN``), ``tulou.key.version``,
``tulou.batch.size``, ``tulou.rule`` (the policy rule that decided) and operation-specific
public values (certificate serials, digests). Never key material, plaintext, tokens or
assertion bodies.

Fail closed: if the line cannot be written, the operation's result is withheld
(:class:`UnavailableError` -> ``unavailable``, HTTP 503). Reusable by other services built on
this one (the homomorphic-statistics service uses the same writer with another dataset).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tulou.errors import UnavailableError
from tulou.events import Event, event_id, format_timestamp

AuditSink = Callable[[Event], None]
_CATEGORY = {"key": ["configuration", "iam"], "data": ["configuration"]}


class JsonLinesAuditSink:
    """Append events as JSON lines to ``path`` (created 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd = -1

    def __call__(self, event: Event) -> None:
        line = orjson.dumps(event, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
        with self._lock:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                written = os.write(self._fd, line)
            except OSError:
                os.close(self._fd)  # reopen next time (the file may have been rotated away)
                self._fd = -1
                raise
            if written != len(line):
                raise OSError("short write to the audit log")


class AuditLog:
    """Builds and writes the ECS events of one service (``dataset``)."""

    def __init__(self, sink: AuditSink, *, dataset: str = "crypto.service") -> None:
        self._sink = sink
        self.dataset = dataset

    def record(
        self,
        action: str,
        *,
        outcome: str,
        caller: str | None,
        fields: dict[str, Any],
        code: str | None = None,
        reason: str | None = None,
    ) -> Event:
        """Write one event; raise :class:`UnavailableError` if the sink fails (fail closed)."""
        event: Event = {
            "@timestamp": format_timestamp(datetime.now(UTC)),
            "event.id": event_id(self.dataset, secrets.token_hex(16)),
            "event.kind": "event",
            "event.module": "crypto",
            "event.dataset": self.dataset,
            "observer.product": "tulou-crypto",
            "event.category": ["configuration"],
            "event.type": ["access"] if outcome == "success" else ["access", "denied"],
            "event.action": action,
            "event.outcome": outcome,
            "user.name": caller,
        }
        if code is not None:
            event["error.code"] = code
        if reason is not None:
            event["event.reason"] = reason[:300]
        event.update({k: v for k, v in fields.items() if v is not None})
        try:
            self._sink(event)
        except Exception as exc:  # noqa: BLE001 - any sink failure must withhold the result
            raise UnavailableError(f"audit log unavailable, operation refused: {exc}") from None
        return event
