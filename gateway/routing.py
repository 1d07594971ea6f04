"""Route matching on the canonical request: the one matcher, fed what the policy decides on.

The matching itself is :class:`tulou.contracts.routes.RouteTable` (the one route matcher the
router, ``tulou gateway policy explain`` and the compliance coverage check share). This module
adds the two things the gateway's router needs on top of it so that a route prefix and a
policy path can never disagree about which resource a request names:

- prefixes are **canonicalised** like request paths (``/Inbound/./x/`` -> ``/Inbound/x``;
  ``gateway.policy.paths.canonical_path``), and requests are matched on their canonical path;
- **case** follows the policy: paths match case-insensitively unless the policy sets
  ``case_sensitive_paths: true`` (otherwise ``/INBOUND/x`` would miss a route for ``/inbound``
  that the policy's rules for ``/inbound/**`` still cover). Case-insensitive matching is the
  contract matcher over lower-cased prefixes and paths.

Pure (no mitmproxy), so a future data plane (an nginx ``auth_request`` decision point) routes
with exactly the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.policy.paths import canonical_path
from tulou.contracts.routes import RouteLike, RouteTable


def canonical_prefix(prefix: str) -> str:
    """A route prefix in canonical form, without a trailing slash (``/`` stays ``/``)."""
    return canonical_path(prefix).rstrip("/") or "/"


@dataclass(frozen=True, slots=True)
class _Keyed[T]:
    id: str
    host: str
    prefix: str
    route: T


class CanonicalRoutes[T: RouteLike]:
    """``match(host, path, case_sensitive=...)`` -> the route for a canonical request, or None."""

    def __init__(self, routes: Iterable[T]) -> None:
        listed = list(routes)
        exact = [_Keyed(r.id, r.host, canonical_prefix(r.prefix), r) for r in listed]
        folded = [_Keyed(k.id, k.host, k.prefix.lower(), k.route) for k in exact]
        self.sensitive = RouteTable(exact)
        self.insensitive = RouteTable(folded)

    def match(self, host: str, path: str, *, case_sensitive: bool = False) -> T | None:
        if case_sensitive:
            found = self.sensitive.match(host, path)
        else:
            found = self.insensitive.match(host, path.lower())
        return None if found is None else found.route
