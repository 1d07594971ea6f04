"""Serving the SOC with uvicorn: one process, or ``--workers N`` processes.

With one process the app is built in the ``tulou soc serve`` process itself. With several,
uvicorn starts N worker processes that each import :func:`factory` (an import string, as
uvicorn requires) and build their own app -- their own database engine and connection pool,
their own metrics cache -- from the same :class:`ServeOptions`, handed over in the environment
variable ``TULOU_SOC_SERVE`` (JSON; it holds no secrets: the settings, including any database
password, are loaded again by each worker from the environment and the config file).

The database is migrated once, by the parent, before any worker starts.

Every connection gets ``TCP_NODELAY`` (:class:`NoDelay`): uvicorn's multi-process
listening socket is created without the TCP protocol number, so asyncio does not set it, and
Nagle's algorithm then holds each response body until the client's delayed ACK of the headers
(~40 ms per request; measured: 56 ms p50 for one client with 2 workers, 6 ms with 1).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from soc import config
from soc.app import create_app
from soc.db import Database
from tulou.errors import ConfigError
from tulou.settings import load_settings

ENV = "TULOU_SOC_SERVE"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``tulou soc serve`` passes on to every worker."""

    config_file: str | None = None
    cookie_secure: bool = True
    metrics_ttl: float = 10.0
    #: Metrics windows (days) computed at worker start-up and refreshed in the background.
    warm_metrics: tuple[int, ...] = (7,)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str | None) -> ServeOptions:
        if not text:
            raise ConfigError(f"{ENV} is not set: start workers with 'tulou soc serve --workers'")
        try:
            data = json.loads(text)
            if "warm_metrics" in data:
                data["warm_metrics"] = tuple(data["warm_metrics"])
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{ENV} is not valid serve options") from exc


def build(options: ServeOptions, db: Database | None = None) -> FastAPI:
    """The app for ``options`` (a new database handle unless ``db`` is given)."""
    settings = load_settings(Path(options.config_file) if options.config_file else None)
    return create_app(
        db or config.database(settings),
        hash_fn=config.audit_hash(),
        events=config.event_source(settings),
        notifier=config.notifier(),
        cookie_secure=options.cookie_secure,
        metrics_ttl=options.metrics_ttl,
        warm_metrics=options.warm_metrics,
        timezone=config.timezone(),
        data_dir=settings.data_dir,
        inventory=config.inventory(settings),
        sla_watch=60.0,
    )


def factory() -> FastAPI:
    """The uvicorn app factory of a worker process (``soc.serve:factory``)."""
    return build(ServeOptions.from_env(os.environ.get(ENV)))


class NoDelay(HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser; h11, pure Python, took ~40% of the CPU of a
    cached GET), sending each write at once (no Nagle delay)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]


def run(options: ServeOptions, db: Database, *, host: str, port: int, workers: int) -> None:
    """Serve until interrupted; ``db`` is the parent's (already migrated) database."""
    import uvicorn  # noqa: PLC0415 - only serving needs it

    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    if workers == 1:
        uvicorn.run(
            build(options, db),
            host=host,
            port=port,
            log_level="warning",
            http=NoDelay,
        )
        return
    db.dispose()  # the workers open their own connections
    os.environ[ENV] = options.to_env()
    uvicorn.run(
        "soc.serve:factory",
        factory=True,
        workers=workers,
        http="soc.serve:NoDelay",
        host=host,
        port=port,
        log_level="warning",
    )
