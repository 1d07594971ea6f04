"""Event stores behind one protocol, opened by URL through a registry.

URLs (the one grammar of :mod:`tulou.registry`, shared with alert sinks, backup targets and key
stores): ``sqlite:///abs/path.db``, ``sqlite:relative.db`` or ``sqlite://relative.db`` (the
embedded default, under the data dir), ``memory:`` (the in-memory fake, for tests),
``http(s)://host:port[/index]`` or ``elasticsearch+http(s)://...`` (Elasticsearch; the index
defaults to ``tulou-events``; ``?retry=S`` sets how long an unreachable cluster is retried
before giving up, default 30). Credentials never go in the URL: the Elasticsearch API key
comes from settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from detect.stores.base import EventStore, Query, WriteResult
from tulou.errors import ConfigError, UsageError
from tulou.registry import Registry, split_url

__all__ = ["EventStore", "Query", "StoreRegistry", "WriteResult", "default_registry", "open_store"]

type StoreFactory = Callable[[str, str | None], EventStore]


class StoreRegistry(Registry[StoreFactory]):
    """Store factories by URL scheme; duplicates are refused."""

    def __init__(self) -> None:
        super().__init__("event store")

    def schemes(self) -> list[str]:
        return self.keys()

    def open(self, url: str, api_key: str | None = None) -> EventStore:
        try:
            scheme = split_url(url).scheme
            factory = self.get(scheme)
        except ConfigError as exc:
            raise UsageError(f"store URL: {exc.message}") from None
        return factory(url, api_key)


def _sqlite(url: str, _key: str | None) -> EventStore:
    from detect.stores.sqlite import SQLiteStore  # noqa: PLC0415 - open only what is used

    path = split_url(url).location
    if not path:
        raise UsageError("sqlite store URL needs a path: sqlite:///path/to/events.db")
    return SQLiteStore(Path(path) if path != ":memory:" else path)


def _memory(_url: str, _key: str | None) -> EventStore:
    from detect.stores.memory import MemoryStore  # noqa: PLC0415

    return MemoryStore()


def _elasticsearch(url: str, api_key: str | None) -> EventStore:
    from detect.stores.elasticsearch import DEFAULT_INDEX, ElasticsearchStore  # noqa: PLC0415

    try:
        parts = split_url(url)
    except ConfigError as exc:
        raise UsageError(f"{exc.message} (set TULOU_ES_API_KEY for Elasticsearch)") from None
    index = parts.path.strip("/") or DEFAULT_INDEX
    try:
        retry_for = float(parts.query.get("retry", ["30"])[0])
    except ValueError:
        raise UsageError("store URL option retry must be a number of seconds") from None
    scheme = parts.scheme.removeprefix("elasticsearch+")
    netloc = parts.host if parts.port is None else f"{parts.host}:{parts.port}"
    if ":" in parts.host:  # an IPv6 literal
        netloc = f"[{parts.host}]" + ("" if parts.port is None else f":{parts.port}")
    return ElasticsearchStore(
        f"{scheme}://{netloc}", index=index, api_key=api_key, retry_for=retry_for
    )


def default_registry() -> StoreRegistry:
    registry = StoreRegistry()
    registry.register("sqlite", _sqlite)
    registry.register("memory", _memory)
    for scheme in ("http", "https", "elasticsearch+http", "elasticsearch+https"):
        registry.register(scheme, _elasticsearch)
    return registry


def open_store(url: str, api_key: str | None = None) -> EventStore:
    """Open the store a URL names (see the module docstring)."""
    return default_registry().open(url, api_key)
