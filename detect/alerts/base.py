"""The AlertSink seam: where detect delivers alerts.

Contract (tests/unit/detect/test_alerts_sinks.py runs one conformance suite on every sink):

- ``deliver(alerts)`` MUST be idempotent on ``alert_id``: delivering an alert that was already
  delivered counts it as a duplicate and changes nothing. ``delivered + duplicates`` equals
  the number of alerts given. Every field of :meth:`tulou.contracts.alert.Alert.to_dict` is kept.
- When the destination cannot be reached it MUST raise :class:`tulou.errors.UnavailableError`
  and the caller keeps the alerts (watch does not advance its checkpoint).
- ``alerts()`` returns what was delivered, oldest first (tests and ``--json`` use it); a sink
  that cannot list (HTTP) raises :class:`tulou.errors.UsageError`.

Sinks are chosen by URL through :func:`detect.alerts.default_sinks` (``sqlite:///path.db``,
``memory:``, ``http(s)://soc/``; see :func:`detect.alerts.open_sink`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tulou.contracts.alert import Alert


@dataclass
class DeliveryResult:
    delivered: int = 0
    duplicates: int = 0


@runtime_checkable
class AlertSink(Protocol):
    def deliver(self, alerts: Sequence[Alert]) -> DeliveryResult: ...

    def alerts(self) -> list[Alert]: ...

    def close(self) -> None: ...


type SinkFactory = Callable[[str, str | None], AlertSink]
