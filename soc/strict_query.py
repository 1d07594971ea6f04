"""Unknown query parameters are errors, not silently ignored (``?q=`` on an endpoint without it).

One app-wide dependency (:func:`reject_unknown_query`) compares the request's query parameter
names with the ones the matched route declares (its own and its dependencies'); any other name
is a :class:`tulou.errors.UsageError` (400) that lists what the endpoint takes. A typo in a
filter would otherwise return an unfiltered page that looks like an answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from soc.i18n import _
from tulou.errors import UsageError

_ALLOWED: dict[int, frozenset[str]] = {}


def allowed_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` declares (aliases where given)."""
    key = id(route)
    got = _ALLOWED.get(key)
    if got is None:
        got = frozenset(_names(route.dependant))
        _ALLOWED[key] = got
    return got


def _names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _names(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = allowed_parameters(route)
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or _("none")
        raise UsageError(
            _("unknown query parameter {name!r}; this endpoint takes: {takes}").format(
                name=unknown[0], takes=takes
            )
        )
