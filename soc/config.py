"""Building the SOC from the platform settings (the entry point does this once).

- Database: ``TULOU_DB_URL`` (PostgreSQL, e.g. ``postgresql://soc@db/soc``; a password belongs
  in ``~/.pgpass`` or ``PGPASSWORD``, not the URL) or SQLite at ``<data_dir>/soc/soc.db``.
- Notifications (soc.notify; environment only -- URLs and passwords may hold secrets):
  a signed webhook ``TULOU_SOC_WEBHOOK_URL`` + ``TULOU_SOC_WEBHOOK_SECRET`` (HMAC-SM3 key,
  32+ characters; a URL without it refuses to start), and e-mail ``TULOU_SOC_SMTP_HOST``
  (+ ``_PORT``, ``_FROM``, ``_USER``/``_PASSWORD``, ``_STARTTLS=1``) with the duty addresses
  ``TULOU_SOC_NOTIFY_EMAIL`` (comma-separated) for critical alerts and SLA breaches.
- Time zone of pages, e-mails and reports: ``TULOU_SOC_TIMEZONE`` (default Asia/Shanghai).
- Event source for evidence: detect's event store, the same one ``tulou detect`` uses:
  ``TULOU_SOC_EVENTS_URL`` if set (a detect store URL), else ``TULOU_ES_URL`` (Elasticsearch,
  with ``TULOU_ES_API_KEY``), else the SQLite store at ``<data_dir>/detect/events.db`` if it
  exists, else none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from soc import assets
from soc.assets import Inventory
from soc.audit import HashFunction, sm3_hash
from soc.db import Database, default_url
from soc.evidence import EventSource, build
from soc.mailer import MailNotifier, SmtpConfig
from soc.notify import FanOut, Notifier, NullNotifier
from soc.webhook import WebhookNotifier
from tulou import i18n
from tulou.errors import ConfigError
from tulou.settings import Settings


def database(settings: Settings) -> Database:
    url = settings.db_url.get_secret_value() if settings.db_url else default_url(settings.data_dir)
    return Database(url)


def notifier(environ: Mapping[str, str] | None = None) -> Notifier:
    env = environ if environ is not None else os.environ
    found: list[Notifier] = []
    url = env.get("TULOU_SOC_WEBHOOK_URL")
    if url:
        found.append(WebhookNotifier(url, env.get("TULOU_SOC_WEBHOOK_SECRET", "")))
    host = env.get("TULOU_SOC_SMTP_HOST")
    if host:
        port = env.get("TULOU_SOC_SMTP_PORT", "25")
        if not port.isdigit():
            raise ConfigError("TULOU_SOC_SMTP_PORT must be a port number")
        password = env.get("TULOU_SOC_SMTP_PASSWORD")
        found.append(
            MailNotifier(
                SmtpConfig(
                    host=host,
                    port=int(port),
                    sender=env.get("TULOU_SOC_SMTP_FROM", "tulou-soc@localhost"),
                    duty=tuple(
                        a.strip()
                        for a in env.get("TULOU_SOC_NOTIFY_EMAIL", "").split(",")
                        if a.strip()
                    ),
                    starttls=env.get("TULOU_SOC_SMTP_STARTTLS", "") in ("1", "true", "yes"),
                    username=env.get("TULOU_SOC_SMTP_USER"),
                    password=SecretStr(password) if password else None,
                )
            )
        )
    if not found:
        return NullNotifier()
    return found[0] if len(found) == 1 else FanOut(found)


def inventory(settings: Settings, environ: Mapping[str, str] | None = None) -> Inventory:
    env = environ if environ is not None else os.environ
    path = env.get("TULOU_SOC_ASSETS")
    return assets.load(Path(path) if path else settings.path("soc", "assets.yaml"))


def rules_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The deployed Sigma rules (``TULOU_SOC_RULES``, else ``./rules`` if it exists): loaded
    into the rule catalogue when the SOC starts. ``TULOU_SOC_RULES=`` (empty) turns it off."""
    env = environ if environ is not None else os.environ
    if "TULOU_SOC_RULES" in env:
        value = env["TULOU_SOC_RULES"]
        return Path(value) if value else None
    default = Path("rules")
    return default if default.is_dir() else None


def timezone(environ: Mapping[str, str] | None = None) -> str:
    env = environ if environ is not None else os.environ
    name = env.get("TULOU_SOC_TIMEZONE") or i18n.DEFAULT_TIMEZONE
    i18n.zone(name)
    return name


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
