"""Which event store a ``tulou detect`` / ``tulou rules`` command works on.

``--store URL`` if given, else the settings' Elasticsearch cluster (``TULOU_ES_URL``), else the
embedded SQLite file ``<data_dir>/detect/events.db``. The API key comes from the settings, never
from the URL. Shared by the ingest commands (:mod:`detect.cli`) and the rule commands
(:mod:`detect.rules_cli`) so neither imports the other.
"""

from __future__ import annotations

from typing import Any

from tulou.clikit import app


def store_url(store: str | None) -> str:
    if store:
        return store
    settings = app().settings
    if settings.es_url:
        return settings.es_url
    return f"sqlite://{settings.path('detect', 'events.db').resolve()}"


def open_cli_store(store: str | None) -> Any:
    from detect.stores import open_store  # noqa: PLC0415 - keep `tulou --help` fast

    key = app().settings.es_api_key
    return open_store(store_url(store), key.get_secret_value() if key else None)
