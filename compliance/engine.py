"""The report engine: collectors over the configured sources -> judgements -> documents.

:func:`default_collectors` wires the real collectors, in the order of the report's annex;
:func:`compliance` runs them for a period and judges every clause of the catalogue. Tests build
their own :class:`~compliance.evidence.CollectorRegistry` from fakes and call
:func:`compliance_from` directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compliance.catalogue import Catalogue, load_catalogue
from compliance.collectors.backup import BackupCollector
from compliance.collectors.crypto import CryptoInventoryCollector
from compliance.collectors.detection import RetentionCollector, RulesCollector
from compliance.collectors.gateway import GatewayCollector
from compliance.collectors.soc import SocCollector
from compliance.document import Scope, compliance_document
from compliance.evidence import CollectorRegistry
from compliance.i18n import _
from compliance.judge import RULES, judge_all
from compliance.keys import load_public_key
from compliance.period import Period
from compliance.sources import Sources
from soc.db import Database, default_url
from tulou.errors import ConfigError, UnavailableError
from tulou.registry import split_url
from tulou.settings import Settings


def soc_database(settings: Settings, sources: Sources) -> Database:
    url = sources.soc_db or (settings.db_url.get_secret_value() if settings.db_url else None)
    return Database(url or default_url(settings.data_dir))


def _event_store_opener(url: str, settings: Settings) -> Any:
    def open_() -> Any:
        from detect.stores import open_store  # noqa: PLC0415 - opened only when collecting

        parsed = split_url(url)
        if parsed.scheme == "sqlite":
            path = Path(parsed.location)
            # Opening a missing SQLite file would create it: a report never writes its sources.
            if not path.is_file():
                raise UnavailableError(_("no event store {name}").format(name=path.name))
        key = settings.es_api_key.get_secret_value() if settings.es_api_key else None
        return open_store(url, key)

    return open_


def store_name(url: str) -> str:
    """The event store as the report names it: ``sqlite:events.db`` (no path of this machine),
    or the cluster's URL (which never carries credentials, see detect.stores)."""
    try:
        parsed = split_url(url)
    except ConfigError:
        return "?"
    if parsed.network:
        return url
    return f"{parsed.scheme}:{Path(parsed.location).name}"


def default_collectors(
    settings: Settings, sources: Sources, *, signing_public_key: Path | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(GatewayCollector(sources))
    registry.register(CryptoInventoryCollector(sources, signing_public_key=signing_public_key))
    registry.register(RulesCollector(sources.rules or Path("rules")))
    events = sources.events or ""
    registry.register(
        RetentionCollector(
            _event_store_opener(events, settings),
            where=store_name(events),
            configured_days=sources.retention_days,
        )
    )
    registry.register(SocCollector(soc_database(settings, sources)))
    drill_key = sources.backup.drill_key
    registry.register(
        BackupCollector(
            sources.backup.sites,
            sources.backup.drills,
            drill_key=load_public_key(drill_key) if drill_key else None,
        )
    )
    return registry


def compliance_from(
    registry: CollectorRegistry,
    period: Period,
    *,
    scope: Scope,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Collect, judge and assemble the compliance document for ``period``."""
    catalogue = catalogue or load_catalogue(rules=RULES)
    bag = registry.collect(period)
    judgements = judge_all(catalogue, bag)
    return compliance_document(
        period=period,
        catalogue=catalogue,
        bag=bag,
        judgements=judgements,
        scope=scope,
        generated_at=now or datetime.now(UTC),
    )
