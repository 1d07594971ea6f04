"""Alert delivery: the AlertSink seam (:mod:`detect.alerts.base`), its registry and sinks.

Sinks are opened by URL (the one grammar of :mod:`tulou.registry`, ``sqlite:`` read exactly as
the event stores read it): ``sqlite:///abs/alerts.db`` or ``sqlite:alerts.db`` (the alerts
table used until the SOC exists), ``memory:`` (the fake), ``http(s)://soc[:port]`` (the SOC
ingest API through :mod:`tulou.contracts.soc_ingest`). The registry is built explicitly by
:func:`default_sinks`; nothing registers on import.
"""

from __future__ import annotations

from detect.alerts.base import AlertSink, DeliveryResult, SinkFactory
from tulou.errors import ConfigError
from tulou.registry import Registry, split_url

__all__ = ["AlertSink", "DeliveryResult", "SinkFactory", "default_sinks", "open_sink"]


def _memory(url: str, secret: str | None) -> AlertSink:
    from detect.alerts.memory import MemoryAlertSink  # noqa: PLC0415

    return MemoryAlertSink()


def _sqlite(url: str, secret: str | None) -> AlertSink:
    from detect.alerts.sqlite import SqliteAlertSink  # noqa: PLC0415

    path = split_url(url).location
    if not path:
        raise ConfigError("a sqlite alert sink needs a path: sqlite:///path/to/alerts.db")
    return SqliteAlertSink(path)


def _http(url: str, secret: str | None) -> AlertSink:
    from detect.alerts.http import HttpAlertSink  # noqa: PLC0415

    return HttpAlertSink(url, secret)


def default_sinks() -> Registry[SinkFactory]:
    return Registry(
        "alert sink", [("memory", _memory), ("sqlite", _sqlite), ("http", _http), ("https", _http)]
    )


def open_sink(
    url: str, secret: str | None = None, registry: Registry[SinkFactory] | None = None
) -> AlertSink:
    """The sink for ``url`` (see the module docstring); ``secret`` is the SOC service token."""
    return (registry or default_sinks()).get(split_url(url).scheme)(url, secret)
