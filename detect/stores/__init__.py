"""Event stores behind one protocol, opened by URL through a registry.

URLs: ``sqlite:///abs/path.db`` or ``sqlite:relative.db`` (the embedded default, under the data
dir), ``memory:`` (the in-memory fake, for tests), ``http(s)://host:port[/index]`` or
``elasticsearch+http(s)://...`` (Elasticsearch; the index defaults to ``tulou-events``;
``?retry=S`` sets how long an unreachable cluster is retried before giving up, default 30).
Credentials never go in the URL: the Elasticsearch API key comes from settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from detect.stores.base import EventStore, Query, WriteResult
from tulou.errors import UsageError

__all__ = ["EventStore", "Query", "StoreRegistry", "WriteResult", "default_registry", "open_store"]

type StoreFactory = Callable[[str, str | None], EventStore]


class StoreRegistry:
    """Store factories by URL scheme; duplicates are refused."""

    def __init__(self) -> None:
        self._factories: dict[str, StoreFactory] = {}

    def register(self, scheme: str, factory: StoreFactory) -> None:
        if scheme in self._factories:
            raise ValueError(f"store scheme {scheme!r} is already registered")
        self._factories[scheme] = factory

    def schemes(self) -> list[str]:
        return list(self._factories)

    def open(self, url: str, api_key: str | None = None) -> EventStore:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        factory = self._factories.get(scheme)
        if factory is None:
            raise UsageError(f"unknown store URL {url!r} (schemes: {', '.join(self._factories)})")
        return factory(url, api_key)


def _sqlite(url: str, _key: str | None) -> EventStore:
    from detect.stores.sqlite import SQLiteStore  # noqa: PLC0415 - open only what is used

    rest = url.split(":", 1)[1]
    path = rest[2:] if rest.startswith("//") else rest
    if not path:
        raise UsageError("sqlite store URL needs a path: sqlite:///path/to/events.db")
    return SQLiteStore(Path(path) if path != ":memory:" else path)


def _memory(_url: str, _key: str | None) -> EventStore:
    from detect.stores.memory import MemoryStore  # noqa: PLC0415

    return MemoryStore()


def _elasticsearch(url: str, api_key: str | None) -> EventStore:
    from detect.stores.elasticsearch import DEFAULT_INDEX, ElasticsearchStore  # noqa: PLC0415

    url = url.removeprefix("elasticsearch+")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise UsageError("store URLs must not carry credentials; set TULOU_ES_API_KEY")
    index = parts.path.strip("/") or DEFAULT_INDEX
    options = parse_qs(parts.query)
    try:
        retry_for = float(options.get("retry", ["30"])[0])
    except ValueError:
        raise UsageError("store URL option retry must be a number of seconds") from None
    return ElasticsearchStore(
        f"{parts.scheme}://{parts.netloc}", index=index, api_key=api_key, retry_for=retry_for
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
