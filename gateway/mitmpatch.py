"""What mitmproxy 12 does not expose, added around four of its methods.

mitmproxy 12 has no limit on the size or number of HTTP/1 request header lines (its reader
says ``FIXME: protect against header size DoS``), cannot answer a request before its body has
been read (a response set in ``requestheaders`` is sent only after the whole body arrived), and
refuses unparsable requests itself without any hook firing, so a gateway cannot audit them.
:func:`install` wraps, once per process (four methods):

- ``Http1Server.read_headers``: before mitmproxy parses, the head must end within
  ``max_header_bytes`` and hold at most ``max_header_count`` lines, else 431 and the
  connection is closed; a head mitmproxy itself refuses (HTTP/0.9, a broken request line)
  is reported. Limits are read from :data:`LIMITS` (set by the runner from the config).
- ``Http2Connection.protocol_error``: malformed HTTP/2 (bad frames, bad pseudo-headers) is
  reported before mitmproxy closes the connection. (HPACK already bounds an HTTP/2 header
  block at 64 KiB, h2's default ``SETTINGS_MAX_HEADER_LIST_SIZE``.)
- ``ReverseInstance.listen``: with :data:`REUSE_PORT` set (``--workers N``) the listener is
  opened with ``SO_REUSEPORT``, so N worker processes share one port.
- ``HttpStream.check_killed``: a flow the gateway refused in ``requestheaders`` while its body
  is still to come is marked with :data:`EARLY` and killed; instead of a bare reset the client
  gets the refusal (status, JSON body, request id) and the stream ends at once (HTTP/1: the
  connection is closed; HTTP/2: the stream is reset with CANCEL), so no body is read.

Reports go to every callable in :data:`REFUSALS` as ``(peername, status, reason)``; the
``Shield`` addon audits them and spends the address's budget. The wrapped methods keep their
behaviour for everything else (tests in tests/unit/gateway/test_gateway_mitmpatch.py pin it),
and :func:`install` refuses to run against a mitmproxy major version it was not written for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy import version as mitmproxy_version
from mitmproxy.net.http import http1
from mitmproxy.proxy import commands, events, mode_servers
from mitmproxy.proxy.layers import http as _http_layers
from mitmproxy.proxy.layers.http import _http1, _http2

log = logging.getLogger(__name__)
http_layers: Any = _http_layers  # its event and hook classes are re-exported untyped
_assemble: Any = http1.assemble_response

EARLY = "tulou.early-refusal"  # flow.metadata key: answer with flow.response, read no body
Refusal = Callable[[tuple[str, int] | None, int, str], None]
REFUSALS: list[Refusal] = []


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100


LIMITS = [HeadLimits()]  # one element, replaced by the runner (a list keeps it mutable)
REUSE_PORT = [False]  # set by ``tulou gateway run --workers N``: listeners share the port
_installed = False


def report(peername: Any, status: int, reason: str) -> None:
    """Tell every registered listener about a refusal made below the addons."""
    peer = (str(peername[0]), int(peername[1])) if peername else None
    for listener in tuple(REFUSALS):
        try:
            listener(peer, status, reason)
        except Exception:  # a listener's failure must not break the protocol layer
            log.exception("refusal listener failed")


def _head_end(data: Any, limit: int) -> int:
    """Index just past the blank line ending the head within ``limit`` bytes, or -1."""
    window = limit + 4
    ends = [
        found + len(marker)
        for marker in (b"\r\n\r\n", b"\n\n", b"\n\r\n")
        if (found := data.find(marker, 0, window)) >= 0
    ]
    return min(ends) if ends else -1


def _refuse_head(conn: Any, status: int, reason: str) -> Generator[Any, None, None]:
    body = b'{"error": "request header fields too large"}'
    response = http.Response.make(
        status, body, {"Content-Type": "application/json", "Connection": "close"}
    )
    report(conn.peername, status, reason)  # audited before the client can see the answer
    yield commands.SendData(conn, _assemble(response))
    yield commands.CloseConnection(conn)


def _wrap_read_headers(original: Callable[..., Any]) -> Callable[..., Any]:
    def read_headers(self: Any, event: events.ConnectionEvent) -> Generator[Any, None, None]:
        if isinstance(event, events.DataReceived) and self.buf:
            limits = LIMITS[0]
            data = getattr(self.buf, "_data", None)
            if data is None:
                data = bytes(self.buf)
            end = _head_end(data, limits.max_header_bytes)
            reason = None
            if end < 0 and len(data) > limits.max_header_bytes:
                reason = f"request head larger than {limits.max_header_bytes} bytes"
            elif end >= 0 and data.count(b"\n", 0, end) - 2 > limits.max_header_count:
                reason = f"more than {limits.max_header_count} header fields"
            if reason is not None:
                self.state = self.done
                yield from _refuse_head(self.conn, 431, reason)
                return
        refused_here = False
        for command in original(self, event):
            if isinstance(command, commands.Log) and self.request is None:
                refused_here = refused_here or "closed connection before" not in command.message
                if refused_here:
                    report(
                        self.conn.peername, 400, f"refused by the HTTP/1 parser: {command.message}"
                    )
            yield command

    return read_headers


def _wrap_protocol_error(original: Callable[..., Any]) -> Callable[..., Any]:
    def protocol_error(self: Any, message: str, *args: Any, **kwargs: Any) -> Any:
        report(self.conn.peername, 400, f"refused by the HTTP/2 layer: {message}")
        return (yield from original(self, message, *args, **kwargs))

    return protocol_error


def _wrap_check_killed(original: Callable[..., Any]) -> Callable[..., Any]:
    def check_killed(self: Any, emit_error_hook: bool) -> Generator[Any, None, Any]:
        flow: Any = getattr(self, "flow", None)
        early = flow is not None and flow.metadata.pop(EARLY, False)
        killed = flow is not None and flow.error and flow.error.msg == mflow.Error.KILLED_MESSAGE
        if not (early and killed and flow.response is not None):
            return (yield from original(self, emit_error_hook))
        if emit_error_hook:
            yield http_layers.HttpErrorHook(flow)
        client = self.context.client
        response = flow.response
        yield http_layers.SendHttp(
            http_layers.ResponseHeaders(self.stream_id, response, end_stream=False), client
        )
        if response.raw_content:
            yield http_layers.SendHttp(
                http_layers.ResponseData(self.stream_id, response.raw_content), client
            )
        yield http_layers.SendHttp(http_layers.ResponseEndOfMessage(self.stream_id), client)
        yield http_layers.SendHttp(
            http_layers.ResponseProtocolError(
                self.stream_id, "refused before the body", http_layers.ErrorCode.CANCEL
            ),
            client,
        )
        flow.live = False
        self.client_state = self.server_state = self.state_errored
        return True

    return check_killed


def _wrap_listen(original: Callable[..., Any]) -> Callable[..., Any]:
    async def listen(self: Any, host: str, port: int) -> Any:
        if not REUSE_PORT[0] or self.mode.transport_protocol != "tcp" or port == 0:
            return await original(self, host, port)
        # N worker processes accept on one port; the kernel spreads connections (SO_REUSEPORT)
        return [await asyncio.start_server(self.handle_stream, host, port, reuse_port=True)]

    return listen


def install() -> None:
    """Wrap the three methods (idempotent). Raises RuntimeError on another mitmproxy major."""
    global _installed  # noqa: PLW0603 - one installation per process
    if _installed:
        return
    major = mitmproxy_version.VERSION.split(".")[0]
    if major != "12":
        raise RuntimeError(f"gateway.mitmpatch was written for mitmproxy 12, not {major}")
    server: Any = _http1.Http1Server
    server.read_headers = _wrap_read_headers(server.read_headers)
    h2: Any = _http2.Http2Connection
    h2.protocol_error = _wrap_protocol_error(h2.protocol_error)
    stream: Any = http_layers.HttpStream
    stream.check_killed = _wrap_check_killed(stream.check_killed)
    reverse: Any = mode_servers.ReverseInstance
    reverse.listen = _wrap_listen(reverse.listen)
    _installed = True
