"""Building the SOC from the platform settings (the entry point does this once).

- Database: ``TULOU_DB_URL`` (PostgreSQL, e.g. ``postgresql://soc@db/soc``; a password belongs
  in ``~/.pgpass`` or ``PGPASSWORD``, not the URL) or SQLite at ``<data_dir>/soc/soc.db``.
- Webhook for notifications: ``TULOU_SOC_WEBHOOK_URL`` (environment only: it may embed a
  secret token, so it never goes on a command line).
- Event source for evidence: ``TULOU_SOC_EVENTS`` = ``sqlite`` (detect's store at
  ``<data_dir>/events.db`` unless ``TULOU_SOC_EVENTS_PATH`` says otherwise) or ``none``.
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
    name = env.get("TULOU_SOC_EVENTS", "none")
    path = env.get("TULOU_SOC_EVENTS_PATH") or str(settings.path("events.db"))
    return build(name, {"path": path})


def audit_hash() -> HashFunction:
    return sm3_hash()
