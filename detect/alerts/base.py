"""The AlertSink seam: where detect delivers alerts.

Contract (tests/unit/detect/test_alerts_sinks.py runs one conformance suite on every sink):

- ``deliver(alerts)`` MUST be idempotent on ``alert_id``: delivering an alert that was already
  delivered counts it as a duplicate and changes nothing. ``delivered + duplicates`` equals
  the number of alerts given. Every field of :meth:`tulou.contracts.alert.Alert.to_dict` is kept.
- When the destination cannot be reached it MUST raise :class:`tulou.errors.UnavailableError`
  and the caller keeps the alerts (watch does not advance its checkpoint).
- ``alerts()`` returns what was delivered, oldest first (tests and ``--json`` use it); a sink
  that cannot list (HTTP) raises :class:`tulou.errors.UsageError`.

Sinks are chosen by URL through :data:`SINKS`: ``sqlite:///path.db`` (the alerts table used
until the SOC exists), ``memory://`` (the fake), ``http(s)://soc/`` (the SOC ingest API).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tulou.contracts.alert import Alert
from tulou.errors import ConfigError


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

#: URL scheme -> factory(url, secret). Explicit registration, duplicates refused.
SINKS: dict[str, SinkFactory] = {}


def register(scheme: str, factory: SinkFactory) -> None:
    if scheme in SINKS:
        raise ConfigError(f"alert sink scheme {scheme!r} registered twice")
    SINKS[scheme] = factory


def open_sink(url: str, secret: str | None = None) -> AlertSink:
    """The sink for ``url`` (see the module docstring for the schemes)."""
    _builtin()
    scheme = url.split(":", 1)[0]
    factory = SINKS.get(scheme)
    if factory is None:
        raise ConfigError(f"unknown alert sink {scheme!r} (known: {', '.join(sorted(SINKS))})")
    return factory(url, secret)


def _builtin() -> None:
    if SINKS:
        return
    from detect.alerts.http import HttpAlertSink  # noqa: PLC0415 - registry filled on first use
    from detect.alerts.memory import MemoryAlertSink  # noqa: PLC0415
    from detect.alerts.sqlite import SqliteAlertSink  # noqa: PLC0415

    register("memory", lambda url, secret: MemoryAlertSink())
    register("sqlite", lambda url, secret: SqliteAlertSink(url.removeprefix("sqlite://")))
    register("http", HttpAlertSink)
    register("https", HttpAlertSink)
