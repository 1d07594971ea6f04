"""Which event store a ``tulou detect`` / ``tulou rules`` command works on, and the ingest
pipeline in front of it.

``--store URL`` if given, else the settings' Elasticsearch cluster (``TULOU_ES_URL``), else the
embedded SQLite file ``<data_dir>/detect/events.db``. The API key comes from the settings, never
from the URL. Shared by the ingest commands (:mod:`detect.cli`), the rule commands
(:mod:`detect.rules_cli`) and the hunts (:mod:`detect.hunt_cli`) so none imports another.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
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


def ingest_pipeline(
    store: str | None, dead_letter: Path | None, spool: Path | None, batch: int
) -> Any:
    """An :class:`~detect.ingest.Ingestor` writing to the store through its own disk spool."""
    from detect.deadletter import DeadLetterFile  # noqa: PLC0415
    from detect.ingest import Ingestor  # noqa: PLC0415
    from detect.spool import BufferedWriter, Spool  # noqa: PLC0415

    settings = app().settings
    # One spool per store: events buffered for one store are never replayed into another.
    url_digest = hashlib.sha256(store_url(store).encode()).hexdigest()[:16]
    default_spool = settings.path("detect", "spool", url_digest)
    writer = BufferedWriter(open_cli_store(store), Spool(spool or default_spool))
    dead = DeadLetterFile(dead_letter or settings.path("detect", "dead-letter.ndjson"))
    return Ingestor(writer, dead, batch_size=batch)
