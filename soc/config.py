"""Building the SOC from the platform settings (the entry point does this once).

- Database: ``TULOU_DB_URL`` (PostgreSQL, e.g. ``postgresql://soc@db/soc``; a password belongs
  in ``~/.pgpass`` or ``PGPASSWORD``, not the URL) or SQLite at ``<data_dir>/soc/soc.db``.
- Webhook for notifications: ``TULOU_SOC_WEBHOOK_URL`` (environment only: it may embed a
  secret token, so it never goes on a command line).
- Event source for evidence: detect's event store, the same one ``tulou detect`` uses:
  ``TULOU_SOC_EVENTS_URL`` if set (a detect store URL), else ``TULOU_ES_URL`` (Elasticsearch,
  with ``TULOU_ES_API_KEY``), else the SQLite store at ``<data_dir>/detect/events.db`` if it
  exists, else none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from soc.audit import HashFunction, sm3_hash
from soc.db import Database, default_url
from soc.evidence import EventSource, build
from soc.notify import Notifier, NullNotifier, WebhookNotifier
from tulou.settings import Settings


def database(settings: Settings) -> Database:
    url = settings.db_url.get_secret_value() if settings.db_url else default_url(settings.data_dir)
    return Database(url)


def notifier(environ: Mapping[str, str] | None = None) -> Notifier:
    url = (environ if environ is not None else os.environ).get("TULOU_SOC_WEBHOOK_URL")
    return WebhookNotifier(url) if url else NullNotifier()


def event_source(settings: Settings, environ: Mapping[str, str] | None = None) -> EventSource:
    env = environ if environ is not None else os.environ
    key = settings.es_api_key.get_secret_value() if settings.es_api_key else None
    url = env.get("TULOU_SOC_EVENTS_URL") or settings.es_url
    if url is None:
        default = settings.path("detect", "events.db").resolve()
        if not default.is_file():
            return build("none")
        url = f"sqlite://{default}"
    return build("store", {"url": url, "api_key": key})


def audit_hash() -> HashFunction:
    return sm3_hash()
