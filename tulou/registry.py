"""One registry type for every seam, and one grammar for the URLs that name implementations.

:class:`Registry` maps stable ids (URL schemes, store kinds) to factories. It is built
explicitly by the component that owns the seam (``detect.stores.default_registry()``,
``detect.alerts.default_sinks()``, ``backup.targets.default_targets()``,
``crypto.keystores.default_keystores()``, ``detect.rules.targets.default_targets()``):
nothing registers itself on import and nothing fills a global on first use, so building a
registry never imports a module that imports the registry back.

URL grammar (:func:`split_url`), the same for event stores, alert sinks, backup targets and key
stores::

    scheme:LOCATION          opaque: sqlite:var/events.db (relative), local:/srv/backup
    scheme://LOCATION        the same location: sqlite:///abs/events.db -> /abs/events.db,
                             sqlite://rel.db -> rel.db, memory:// -> ''
    http(s)://host[:port]/path?query, s3://bucket/prefix, sftp://user@host/path
                             network schemes (:data:`NETWORK`): host, port and path as in
                             RFC 3986; credentials are refused everywhere

A bare path with no scheme takes the caller's ``default`` scheme (backup sites: ``local``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tulou.errors import ConfigError

_KEY = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
#: Schemes whose location is host[:port]/path rather than a local path or a label.
NETWORK = frozenset({"http", "https", "s3", "sftp", "elasticsearch+http", "elasticsearch+https"})


class Registry[T]:
    """Factories (or classes) by stable id; duplicates and malformed ids are refused."""

    def __init__(self, what: str, entries: Iterable[tuple[str, T]] = ()) -> None:
        self.what = what
        self._entries: dict[str, T] = {}
        for key, value in entries:
            self.register(key, value)

    def register(self, key: str, value: T) -> None:
        if not _KEY.fullmatch(key):
            raise ConfigError(f"{self.what} id {key!r} must be lowercase [a-z][a-z0-9+.-]*")
        if key in self._entries:
            raise ConfigError(f"{self.what} {key!r} is registered twice")
        self._entries[key] = value

    def get(self, key: str) -> T:
        try:
            return self._entries[key]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(f"unknown {self.what} {key!r} (known: {known})") from None

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True, slots=True)
class ResourceUrl:
    """A URL split by the grammar above (never holds credentials)."""

    scheme: str
    location: str  # opaque schemes: the path or label; network schemes: netloc + path
    host: str = ""
    port: int | None = None
    path: str = ""
    query: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def network(self) -> bool:
        return self.scheme in NETWORK


def split_url(url: str, *, default: str | None = None) -> ResourceUrl:
    """Split ``url`` (see the module docstring); raises :class:`ConfigError` if malformed."""
    scheme, sep, rest = url.partition(":")
    if not sep or "/" in scheme or len(scheme) < 2:  # a bare path (or a Windows drive letter)
        if default is None:
            raise ConfigError(f"{_safe(url)!r} is not a URL (scheme:location)")
        scheme, rest = default, url
    scheme = scheme.lower()
    if not _KEY.fullmatch(scheme):
        raise ConfigError(f"malformed URL scheme {scheme!r}")
    if scheme not in NETWORK:
        location = rest[2:] if rest.startswith("//") else rest
        if "@" in location.split("/", 1)[0] and rest.startswith("//"):
            raise ConfigError("URLs must not carry credentials; configure them separately")
        return ResourceUrl(scheme, location, path=location)
    parts = urlsplit(f"{scheme}:{rest}")
    if parts.password or (parts.username and scheme != "sftp"):
        # Secrets never in URLs: they end up in logs, process lists and proxies. (An SFTP user
        # name is not a secret; its key or password is configured separately.)
        raise ConfigError("URLs must not carry credentials; configure them separately")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"malformed port in {scheme} URL") from None
    if not parts.hostname:
        raise ConfigError(f"{scheme} URL needs a host")
    return ResourceUrl(
        scheme,
        parts.netloc + parts.path,
        host=parts.hostname,
        port=port,
        path=parts.path,
        query=parse_qs(parts.query),
    )


def _safe(url: str) -> str:
    """``url`` without anything that could be a credential (for messages)."""
    _head, at, tail = url.rpartition("@")
    return ("…@" + tail) if at else url
