"""The audit record: one ECS JSON line per access decision, the format detect ingests.

Every line is a flat JSON object (dotted ECS keys, like :mod:`tulou.events`), UTF-8, ending in
``\\n``. The field list is documented in docs/gateway.md; the keys always present are
``@timestamp``, ``event.kind`` (``event``), ``event.category`` (``["network", "web"]`` plus
``authentication`` when a token was checked), ``event.type``, ``event.action``
(``gateway-decision``), ``event.outcome`` (``success`` | ``failure``), ``event.dataset``
(``tulou.gateway``), ``event.id``, ``event.reason``, ``rule.id``, ``event.duration`` (ns),
``http.request.method``, ``url.domain``, ``url.path``, ``source.ip``,
``http.response.status_code``. Identity, device and route fields appear when known.
Secrets (the token itself, signatures, bodies) are never written.

Encoding: :func:`encode_line` gives the bytes of ``json.dumps(event, ensure_ascii=False,
separators=(",", ":"), default=str)`` plus ``\\n``, produced by orjson (same bytes for the
values an event holds; the unit tests compare them). A value orjson refuses (a string with a
lone surrogate, such as undecodable bytes of a raw request path, or an integer beyond 64 bits)
does not lose the line: it is encoded by the standard library with ``ensure_ascii=True``
(valid JSON, non-ASCII escaped).

Durability: :class:`AuditLog` hands every line to the kernel with one ``write(2)`` on an
``O_APPEND`` descriptor before ``write`` returns (no user-space buffer: a crash of the gateway
loses no recorded decision; nothing is batched across requests).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tulou.events import format_timestamp

DATASET = "tulou.gateway"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# orjson would write datetimes (RFC 3339) and dataclasses itself; passing them through to
# ``default=str`` keeps the bytes of the json.dumps form the format was defined with.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_OPTIONS |= orjson.OPT_APPEND_NEWLINE
_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str).encode


def encode_line(event: dict[str, Any]) -> bytes:
    """One audit line: compact JSON, UTF-8, ending in a newline (see the module docstring)."""
    try:
        return orjson.dumps(event, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _ASCII(event).encode("ascii") + b"\n"


_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))
_SECOND = timedelta(seconds=1)


class _Timestamps:
    """``format_timestamp`` with the per-second part (``strftime``) reused within a second.

    The cache is one tuple ``(start, end, prefix)`` of the UTC second ``[start, end)``, replaced
    whole, so concurrent callers never mix two seconds.
    """

    def __init__(self) -> None:
        self.cached: tuple[datetime, datetime, str] = (_EPOCH, _EPOCH, "")

    def __call__(self, moment: datetime) -> str:
        if moment.tzinfo is not UTC:
            return format_timestamp(moment)
        start, end, prefix = self.cached
        if not start <= moment < end:
            start = moment.replace(microsecond=0)
            prefix = format_timestamp(start)[:-4]  # "YYYY-MM-DDTHH:MM:SS."
            self.cached = (start, start + _SECOND, prefix)
        return prefix + _MILLIS[moment.microsecond // 1000]


timestamp = _Timestamps()


def decision_event(
    *,
    moment: datetime,
    allowed: bool,
    rule_id: str,
    reason: str,
    status: int,
    duration_ns: int,
    method: str,
    host: str,
    path: str,
    source_ip: str,
    source_port: int | None = None,
    route_id: str | None = None,
    subject: str | None = None,
    issuer: str | None = None,
    token_id: str | None = None,
    token_checked: bool = False,
    device_fingerprint: str | None = None,
    device_id: str | None = None,
    posture: dict[str, Any] | None = None,
    upstream: str | None = None,
    user_agent: str | None = None,
    tls_version: str | None = None,
    http_version: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Build the ECS event of one decision (flat dotted keys)."""
    categories = ["network", "web"]
    if token_checked:
        categories.append("authentication")
    event: dict[str, Any] = {
        "@timestamp": timestamp(moment),
        "event.kind": "event",
        "event.category": categories,
        "event.type": ["access", "allowed" if allowed else "denied"],
        "event.action": "gateway-decision",
        "event.outcome": "success" if allowed else "failure",
        "event.dataset": DATASET,
        "event.module": "tulou",
        "event.id": event_id or secrets.token_hex(16),
        "event.reason": reason,
        "event.duration": duration_ns,
        "rule.id": rule_id,
        "rule.ruleset": "tulou-gateway-policy",
        "http.request.method": method,
        "http.response.status_code": status,
        "url.domain": host,
        "url.path": path,
        "source.ip": source_ip,
        "observer.type": "proxy",
        "observer.product": "tulou-gateway",
    }
    # Optional keys in this order, each only when known (one test per value, no temporaries).
    if source_port is not None:
        event["source.port"] = source_port
    if route_id is not None:
        event["service.target.name"] = route_id
    if subject is not None:
        event["user.name"] = subject
        event["user.id"] = subject
    if issuer is not None:
        event["tulou.token.issuer"] = issuer
    if token_id is not None:
        event["tulou.token.id"] = token_id
    if device_fingerprint:
        event["tls.client.hash.sha256"] = device_fingerprint.upper()
    if device_id is not None:
        event["host.id"] = device_id
    if upstream is not None:
        event["destination.address"] = upstream
    if user_agent is not None:
        event["user_agent.original"] = user_agent
    if tls_version is not None:
        event["tls.version"] = tls_version
    if http_version is not None:
        event["http.version"] = http_version
    if posture is not None:
        for key, value in posture.items():
            event[_POSTURE_KEYS.get(key) or f"tulou.device.posture.{key}"] = value
    return event


def state_event(moment: datetime, *, kind: str, reason: str, up: bool | None) -> dict[str, Any]:
    """The audit line of a change in the shared state's health (``event.action`` gateway-state)."""
    return {
        "@timestamp": timestamp(moment),
        "event.kind": "event",
        "event.category": ["configuration"],
        "event.type": ["change"],
        "event.action": "gateway-state",
        "event.outcome": "unknown" if up is None else ("success" if up else "failure"),
        "event.dataset": DATASET,
        "event.module": "tulou",
        "event.id": secrets.token_hex(16),
        "event.reason": reason,
        "tulou.state.kind": kind,
        "observer.type": "proxy",
        "observer.product": "tulou-gateway",
    }


_POSTURE_KEYS = {
    key: f"tulou.device.posture.{key}"
    for key in ("enrolled", "os_patch_level", "disk_encrypted", "fresh")
}


class AuditLog:
    """Append-only JSON-lines writer; thread-safe; each line reaches the kernel in ``write``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # 0600 when created; an existing file readable or writable by others is tightened
            # to at most 0640 (group may read: the log shipper), never loosened.
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            mode = os.fstat(self._fd).st_mode & 0o777
            if mode & 0o137:
                os.fchmod(self._fd, mode & 0o640)
        self.written = 0

    def write(self, event: dict[str, Any]) -> None:
        line = encode_line(event)
        with self._lock:
            if self._fd is not None:
                view = memoryview(line)
                while view:  # a regular file takes it in one call; a short write is resumed
                    view = view[os.write(self._fd, view) :]
            self.written += 1

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def now() -> datetime:
    return datetime.now(UTC)
