"""Entities of an alert: host, source and destination address, user, process, URL domain.

An alert's entities are taken from the alert itself first (its ``fields``, and the correlation
``group`` detect puts there), then from its events (the evidence, when the event store has
them): the first event that names an entity gives it. Each entity has an ordered list of ECS
fields that may carry it (:data:`SOURCES`). They are stored in their own indexed columns, so
the queue filters and the related-alerts pivot (same entity, other alert) use an index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from soc.i18n import N_

#: column -> ECS fields that carry it, most specific first.
SOURCES: dict[str, tuple[str, ...]] = {
    "host": ("host.name", "host.hostname", "observer.hostname", "agent.hostname"),
    "source_ip": ("source.ip", "client.ip"),
    "destination_ip": ("destination.ip", "server.ip"),
    "user_name": ("user.name", "source.user.name", "user.target.name", "client.user.name"),
    "process_name": ("process.name", "process.executable"),
    "url_domain": ("url.domain", "destination.domain", "dns.question.name"),
}
#: column -> its display name (translated where shown) and its search-language field.
DISPLAY: dict[str, tuple[str, str]] = {
    "host": (N_("Host"), "host"),
    "source_ip": (N_("Source address"), "src"),
    "destination_ip": (N_("Destination address"), "dst"),
    "user_name": (N_("User"), "user"),
    "process_name": (N_("Process"), "process"),
    "url_domain": (N_("Domain"), "domain"),
}
MAX_LENGTH = {"source_ip": 64, "destination_ip": 64}


def _scalar(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "")), None)
    if value is None or isinstance(value, dict | bool) or value == "":
        return None
    return str(value)


def _lookup(doc: Mapping[str, Any], name: str) -> str | None:
    if name in doc:
        return _scalar(doc[name])
    group = doc.get("group")
    if isinstance(group, Mapping) and name in group:
        return _scalar(group[name])
    return None


def _clean(column: str, value: str) -> str:
    if column == "process_name":
        value = value.replace("\\", "/").rsplit("/", 1)[-1]
    if column == "url_domain":
        value = value.rstrip(".").lower()
    return value[: MAX_LENGTH.get(column, 255)]


def extract(fields: Mapping[str, Any], events: Iterable[Mapping[str, Any]] = ()) -> dict[str, str]:
    """column -> value for every entity named by ``fields`` or, failing that, the events."""
    found: dict[str, str] = {}
    docs = [fields, *events]
    for column, names in SOURCES.items():
        for doc in docs:
            value = next((v for n in names if (v := _lookup(doc, n)) is not None), None)
            if value is not None:
                found[column] = _clean(column, value)
                break
    return found
