"""Enrichment: what is known about an observable -- offline from Tulou's own data, plus a seam.

:class:`Enricher` is the seam for external services (a threat-intelligence platform, a CMDB):
``enrich(kind, value)`` MUST return a JSON-able dict (empty when it knows nothing), MUST NOT
modify anything, and raises :class:`tulou.errors.UnavailableError` when its service cannot be
reached (the page then says so for that enricher; the offline facts still show). Enrichers are
registered by a stable name (:func:`register`; duplicates refused); :class:`StaticEnricher` is
the fake for tests.

:func:`offline` needs no service: the alerts that carry the value as an entity (how many,
first/last seen), the other cases with the same observable, how many stored events name it
(when the event store can count), and the MLPS-graded assets it belongs to (soc.assets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from soc.assets import Inventory
from soc.models import Alert, Observable
from tulou.errors import UnavailableError

#: observable kind -> alert entity columns that may hold it
ALERT_COLUMNS: dict[str, tuple[Any, ...]] = {
    "ip": (Alert.source_ip, Alert.destination_ip, Alert.host),
    "host": (Alert.host,),
    "domain": (Alert.url_domain,),
    "user": (Alert.user_name,),
}
#: observable kind -> ECS fields of events that may hold it
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "ip": ("source.ip", "destination.ip"),
    "host": ("host.name",),
    "domain": ("url.domain", "dns.question.name"),
    "user": ("user.name",),
    "hash": ("file.hash.sha256", "file.hash.md5", "file.hash.sha1"),
}


@dataclass
class Facts:
    kind: str
    value: str
    alerts: int = 0
    events: int | None = None
    cases: list[int] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    assets: list[str] = field(default_factory=list)
    external: dict[str, Any] = field(default_factory=dict)


class Enricher(Protocol):
    name: str

    def enrich(self, kind: str, value: str) -> dict[str, Any]: ...


class StaticEnricher:
    """The fake: answers from a fixed table."""

    def __init__(self, name: str, table: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.name = name
        self.table = table

    def enrich(self, kind: str, value: str) -> dict[str, Any]:
        return dict(self.table.get((kind, value), {}))


ENRICHERS: dict[str, Callable[[dict[str, Any]], Enricher]] = {}


def register(name: str, factory: Callable[[dict[str, Any]], Enricher]) -> None:
    if name in ENRICHERS:
        raise ValueError(f"enricher {name!r} is registered twice")
    ENRICHERS[name] = factory


def offline(
    session: Session,
    kind: str,
    value: str,
    *,
    inventory: Inventory,
    count_events: Callable[[dict[str, Any]], int] | None = None,
    exclude_case: int | None = None,
) -> Facts:
    facts = Facts(kind, value)
    columns = ALERT_COLUMNS.get(kind, ())
    if columns:
        n, first, last = session.execute(
            select(
                func.count(Alert.id), func.min(Alert.first_seen), func.max(Alert.last_seen)
            ).where(or_(*(c == value for c in columns)))
        ).one()
        facts.alerts, facts.first_seen, facts.last_seen = int(n), first, last
    facts.cases = sorted(
        set(
            session.scalars(
                select(Observable.case_id).where(
                    Observable.kind == kind,
                    Observable.value == value,
                    Observable.case_id != (exclude_case or 0),
                )
            )
        )
    )
    if count_events is not None and kind in EVENT_FIELDS:
        try:
            facts.events = sum(count_events({name: value}) for name in EVENT_FIELDS[kind])
        except UnavailableError:
            facts.events = None
    facts.assets = [a.label() for a in inventory.touching(kind, value)]
    return facts


def enrich(facts: Facts, enrichers: list[Enricher]) -> Facts:
    """Add every external enricher's answer (or its unavailability) under its name."""
    for enricher in enrichers:
        try:
            facts.external[enricher.name] = enricher.enrich(facts.kind, facts.value)
        except UnavailableError as exc:
            facts.external[enricher.name] = {"unavailable": exc.message}
    return facts
