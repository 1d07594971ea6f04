"""Helpers the addons share: the request state of a flow, and answering a flow with a denial.

Denials carry no policy detail (the reason and rule id go to the audit log, not to a possibly
hostile client); the client gets the status, a generic message and the request id to quote.
"""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import exceptions, http

from gateway.policy import Decision
from gateway.state import STATE_KEY, RequestState

_MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "no such route",
    429: "too many requests",
    502: "bad gateway",
}


def state_of(flow: http.HTTPFlow) -> RequestState | None:
    """The flow's state, or None for flows the gateway does not handle (none today)."""
    state = flow.metadata.get(STATE_KEY)
    return state if isinstance(state, RequestState) else None


def request_id(flow: http.HTTPFlow) -> str:
    """The flow id without dashes (``StateInit`` keeps it in ``RequestState.request_id``)."""
    state = flow.metadata.get(STATE_KEY)
    if isinstance(state, RequestState) and state.request_id:
        return state.request_id
    return flow.id.replace("-", "")


def deny(
    flow: http.HTTPFlow,
    state: RequestState,
    decision: Decision,
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
) -> None:
    """Record ``decision`` and answer the client with its status."""
    state.decision = decision
    body = json.dumps(
        {"error": _MESSAGES.get(decision.status, "denied"), "request_id": request_id(flow)}
    )
    extra = {"Content-Type": "application/json", "X-Tulou-Request-Id": request_id(flow)}
    if decision.status == 401:
        extra["WWW-Authenticate"] = 'Bearer realm="tulou"'
    if close:
        extra["Connection"] = "close"
    extra.update(headers or {})
    flow.response = http.Response.make(decision.status, body, extra)


def options_error(message: str) -> exceptions.OptionsError:
    """An ``OptionsError`` (mitmproxy's constructor is untyped; this keeps mypy precise)."""
    factory: Any = exceptions.OptionsError
    error: exceptions.OptionsError = factory(message)
    return error
