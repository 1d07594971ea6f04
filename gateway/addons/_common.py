"""Helpers the addons share: the request state of a flow, and answering a flow with a denial.

Denials carry no policy detail (the reason and rule id go to the audit log, not to a possibly
hostile client); the client gets the status, a generic message and the request id to quote.

A denial made while the flow is still in ``requestheaders`` (``state.in_head``) with a body to
come is answered **before the body is read**: the flow is marked for ``gateway.mitmpatch`` and
killed, so mitmproxy sends the denial and ends the stream instead of buffering the body.
"""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import exceptions, http
from mitmproxy.net.http import http1

from gateway.mitmpatch import EARLY
from gateway.policy import Decision
from gateway.state import STATE_KEY, RequestState

_MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "no such route",
    408: "request timeout",
    413: "request body too large",
    429: "too many requests",
    431: "request header fields too large",
    500: "internal error",
    502: "bad gateway",
    503: "service unavailable",
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


def body_pending(flow: http.HTTPFlow) -> bool:
    """Whether a request body may still follow its head (HTTP/2: assume so; it is harmless)."""
    request = flow.request
    if request.is_http2 or request.is_http3:
        return True
    try:
        return http1.expected_http_body_size(request) != 0
    except ValueError:
        return True


def deny(
    flow: http.HTTPFlow,
    state: RequestState,
    decision: Decision,
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
) -> None:
    """Record ``decision`` and answer the client with its status (before the body if any)."""
    state.decision = decision
    early = state.in_head and body_pending(flow)
    body = json.dumps(
        {"error": _MESSAGES.get(decision.status, "denied"), "request_id": request_id(flow)}
    )
    extra = {"Content-Type": "application/json", "X-Tulou-Request-Id": request_id(flow)}
    if decision.status == 401:
        extra["WWW-Authenticate"] = 'Bearer realm="tulou"'
    if close or early:
        extra["Connection"] = "close"
    extra.update(headers or {})
    flow.request.stream = False  # a denied body is never streamed anywhere
    flow.response = http.Response.make(decision.status, body, extra)
    if early and flow.killable:
        flow.metadata[EARLY] = True
        live: Any = flow
        live.kill()


def options_error(message: str) -> exceptions.OptionsError:
    """An ``OptionsError`` (mitmproxy's constructor is untyped; this keeps mypy precise)."""
    factory: Any = exceptions.OptionsError
    error: exceptions.OptionsError = factory(message)
    return error
