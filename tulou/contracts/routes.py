"""Route identity and the one route matcher (pure: no I/O, no mitmproxy).

A route is identified by its ``id`` (what the gateway's audit event names in
``service.target.name``) and selects requests by ``host`` pattern and path ``prefix``. The
gateway's router, ``tulou gateway policy explain --config`` and the compliance coverage check
all answer "which route serves this request?" with :class:`RouteTable`, so they cannot
disagree.

Grammar (format 1):

- ``host`` is an exact host name or a pattern in which ``*`` stands for exactly **one** DNS
  label: ``*.city.test`` matches ``hr.city.test``, but neither ``city.test`` nor
  ``a.b.city.test``; ``api.*.city.test`` matches ``api.hr.city.test``. Comparison is
  case-insensitive and ignores one trailing dot; labels are never partially wild (``h*.city``
  is refused).
- ``prefix`` starts with ``/`` and matches on a path-segment boundary: ``/api`` (or ``/api/``)
  matches ``/api``, ``/api/`` and ``/api/x``, never ``/apix``. ``/`` matches every path. Paths
  are compared case-sensitively and must already be canonical (the gateway canonicalises).
- When several routes match, the most specific wins: the longest prefix, then the host with
  fewer ``*`` labels (an exact host before a pattern), then the earlier route in the config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tulou.errors import ConfigError

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?|\*")


class RouteLike(Protocol):
    """What the matcher needs of a route (the gateway's config model has these fields)."""

    @property
    def id(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def prefix(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route's identity, as the contracts carry it (gateway configs are read into these)."""

    id: str
    host: str
    prefix: str = "/"


def host_labels(pattern: str) -> tuple[str, ...]:
    """The labels of a host pattern, lowercased; raises :class:`ConfigError` if malformed."""
    host = pattern.strip().lower().removesuffix(".")
    labels = tuple(host.split("."))
    if not host or not all(_LABEL.fullmatch(label) for label in labels):
        raise ConfigError(f"host pattern {pattern!r}: '*' stands for a whole DNS label only")
    return labels


def _split(host: str) -> tuple[str, ...]:
    return tuple(host.strip().lower().removesuffix(".").split("."))


def _labels_match(want: tuple[str, ...], got: tuple[str, ...]) -> bool:
    if len(want) != len(got) or not all(got):
        return False
    return all(w in ("*", g) for w, g in zip(want, got, strict=True))


def host_matches(pattern: str, host: str) -> bool:
    """Whether ``host`` matches ``pattern`` (see the module docstring)."""
    return _labels_match(host_labels(pattern), _split(host))


def prefix_matches(prefix: str, path: str) -> bool:
    """Whether ``path`` lies under ``prefix`` on a segment boundary."""
    if not prefix.startswith("/"):
        raise ConfigError(f"route prefix {prefix!r} must start with '/'")
    base = prefix.rstrip("/")
    return not base or path == base or path.startswith(base + "/")


class RouteTable[R: RouteLike]:
    """Routes compiled once, in precedence order; :meth:`match` returns the caller's object."""

    def __init__(self, routes: Iterable[R]) -> None:
        ranked = []
        for index, route in enumerate(routes):
            labels = host_labels(route.host)
            prefix_matches(route.prefix, "/")  # validates the prefix
            key = (-len(route.prefix.rstrip("/")), labels.count("*"), index)
            ranked.append((key, labels, route.prefix.rstrip("/"), route))
        ranked.sort(key=lambda item: item[0])
        self._ranked: list[tuple[tuple[str, ...], str, R]] = [
            (labels, base, route) for _, labels, base, route in ranked
        ]

    @property
    def routes(self) -> Sequence[R]:
        """The routes in precedence order."""
        return [route for _, _, route in self._ranked]

    def match(self, host: str, path: str) -> R | None:
        """The most specific route for a canonical host and path, or ``None``."""
        got = _split(host)
        for labels, base, route in self._ranked:
            if not _labels_match(labels, got):
                continue
            if not base or path == base or path.startswith(base + "/"):
                return route
        return None

    def serving(self, host: str) -> list[R]:
        """Every route whose host pattern matches ``host`` (any path), in precedence order."""
        got = _split(host)
        return [route for labels, _, route in self._ranked if _labels_match(labels, got)]
