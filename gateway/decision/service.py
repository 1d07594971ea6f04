"""The decision point's server: HTTP/1.1 on a Unix socket, one answer per nginx subrequest.

nginx's ``auth_request`` asks ``GET /decide`` over keep-alive connections of its upstream
pool; the request carries the client's headers and the front fields (:mod:`.front`), never a
body. The answer has no body either:

- allowed: ``200`` with ``X-Tulou-Upstream`` (the nginx upstream of the route),
  ``X-Tulou-Target`` (the canonical origin-form target the upstream receives),
  ``X-Tulou-Identity`` (the SM2-signed assertion, when the route wants one) and
  ``X-Tulou-Audit``;
- denied: ``403`` with ``X-Tulou-Status`` (what the client gets: 400, 401, 403, 404, 411, 413,
  429, 431, 500, 503), ``Retry-After`` when rate-limited, and ``X-Tulou-Audit``.

``X-Tulou-Audit`` is the decision's audit fields as JSON object members (ASCII only; the
members of :func:`gateway.audit.decision_event` except the three nginx knows better: the
final status, the duration, the client port), which nginx completes and writes as the audit
line. Parsing is deliberately minimal: the only client of this socket is nginx (the socket's
directory is 0700), and a request it cannot parse closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
from pathlib import Path
from typing import Any

import orjson

from gateway.audit import decision_event
from gateway.decision.front import FrontRequest
from gateway.decision.point import DecisionPoint, Verdict

log = logging.getLogger(__name__)

_REASONS = {200: b"OK", 403: b"Forbidden"}
_MAX_HEAD = 256 * 1024
_DROPPED = ("event.duration", "http.response.status_code", "source.port")


def audit_fragment(verdict: Verdict, front: FrontRequest, user_agent: str | None) -> bytes:
    """The audit members of one decision (JSON object text without its braces, ASCII)."""
    decision, identity, device, posture = (
        verdict.decision,
        verdict.identity,
        verdict.device,
        verdict.posture,
    )
    event = decision_event(
        moment=_moment(),
        allowed=decision.allowed,
        rule_id=decision.rule_id,
        reason=decision.reason,
        status=0,
        duration_ns=0,
        method=verdict.method or _method(front),
        host=verdict.host,
        path=verdict.path or _raw_path(front),
        source_ip=front.address,
        route_id=verdict.route_id,
        subject=identity.subject if identity else None,
        issuer=identity.issuer if identity else None,
        token_id=identity.token_id if identity else None,
        token_checked=verdict.token_checked,
        device_fingerprint=device.fingerprint if device else None,
        device_id=device.device_id if device else None,
        posture=None
        if posture is None
        else {
            "enrolled": posture.enrolled,
            "os_patch_level": posture.os_patch_level,
            "disk_encrypted": posture.disk_encrypted,
            "fresh": posture.fresh,
        },
        upstream=_upstream(verdict),
        user_agent=user_agent,
        tls_version=front.tls,
        http_version=_version(front),
        event_id=front.request_id or None,
    )
    for key in _DROPPED:
        event.pop(key, None)
    event["tulou.gateway.plane"] = "fast"
    data = orjson.dumps(event, default=str)
    if not data.isascii():  # header values travel as ASCII: escape like json.dumps does
        data = json.dumps(event, ensure_ascii=True, separators=(",", ":"), default=str).encode()
    return data[1:-1]


def _moment() -> Any:
    from gateway.audit import now  # noqa: PLC0415

    return now()


def _method(front: FrontRequest) -> str:
    return front.request_line.split(b" ", 1)[0].decode("latin-1")[:32]


def _raw_path(front: FrontRequest) -> str:
    parts = front.request_line.split(b" ")
    raw = parts[1] if len(parts) > 1 else b""
    return raw.decode("utf-8", "surrogateescape").partition("?")[0][:2048]


def _version(front: FrontRequest) -> str | None:
    parts = front.request_line.rsplit(b" ", 1)
    return parts[-1].decode("latin-1").removeprefix("HTTP/") if len(parts) == 2 else None


_UPSTREAMS: dict[str, str] = {}


def _upstream(verdict: Verdict) -> str | None:
    return _UPSTREAMS.get(verdict.route_id or "") if verdict.decision.allowed else None


class _Protocol(asyncio.Protocol):
    def __init__(self, service: DecisionService) -> None:
        self.service = service
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        transport = self.transport
        assert transport is not None
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    transport.close()
                    return
                self.buffer = buffer
                return
            head, buffer = buffer[:end], buffer[end + 4 :]
            transport.write(self.service.answer(head))


class DecisionService:
    """Answers nginx's decision subrequests (see the module docstring)."""

    def __init__(self, point: DecisionPoint) -> None:
        self.point = point
        self.runtime = point.runtime
        self.server: asyncio.AbstractServer | None = None
        for route in self.runtime.config.routes:
            _UPSTREAMS[route.id] = route.upstream

    def answer(self, head: bytes) -> bytes:
        """The response bytes for one decision request head (request line + headers)."""
        lines = head.split(b"\r\n")
        fields: list[tuple[bytes, bytes]] = []
        agents: list[str] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            value = value.strip()
            fields.append((name, value))
            if name.lower() == b"user-agent":
                agents.append(value.decode("utf-8", "surrogateescape"))
        front = FrontRequest.parse(fields)
        verdict = self.point.decide(front)
        decision = verdict.decision
        audit = audit_fragment(verdict, front, ", ".join(agents) if agents else None)
        self.runtime.metrics.inc(
            "tulou_gateway_decisions_total",
            "Access decisions.",
            outcome="allow" if decision.allowed else "deny",
            rule=decision.rule_id,
        )
        out = [b"HTTP/1.1 ", b"200 OK" if decision.allowed else b"403 Forbidden"]
        out.append(b"\r\nContent-Length: 0\r\nX-Tulou-Audit: ")
        out.append(audit)
        if decision.allowed:
            out += (b"\r\nX-Tulou-Upstream: ", (verdict.upstream or "").encode())
            out += (b"\r\nX-Tulou-Target: ", (verdict.target or "/").encode())
            out += (b"\r\nX-Tulou-Scheme: ", verdict.scheme.encode())
            if verdict.assertion is not None:
                out += (b"\r\nX-Tulou-Identity: ", verdict.assertion.encode())
        else:
            out += (b"\r\nX-Tulou-Status: ", str(decision.status).encode())
        for header, text in verdict.headers.items():
            out += (b"\r\n", header.encode(), b": ", text.encode())
        out.append(b"\r\n\r\n")
        return b"".join(out)

    async def start(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        loop = asyncio.get_running_loop()
        self.server = await loop.create_unix_server(lambda: _Protocol(self), str(path))
        share_with_workers(path)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def share_with_workers(path: Path) -> None:
    """Only nginx may connect: 0600 for our own user, or 0660 for the workers' group.

    nginx started as root runs its workers as ``www-data`` (Debian's build); then the socket
    and its directory are given to that group. Nothing else on the host can connect.
    """
    mode, dir_mode, gid = 0o600, 0o700, -1
    if os.geteuid() == 0:
        try:
            gid = grp.getgrnam("www-data").gr_gid
            mode, dir_mode = 0o660, 0o750
        except KeyError:
            pass
    if gid >= 0:
        os.chown(path, -1, gid)
        os.chown(path.parent, -1, gid)
    os.chmod(path, mode)
    os.chmod(path.parent, dir_mode)
