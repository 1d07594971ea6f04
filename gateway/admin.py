"""The admin listener (plain HTTP, bind it to loopback or a management network).

``GET /healthz`` 200 while the process runs; ``GET /readyz`` 200 when policy, issuers and
device CA are loaded and the gateway is not draining, else 503; ``GET /metrics`` the Prometheus
text exposition; ``POST /revoke`` with a JSON body ``{"kind": "subjects"|"tokens"|"devices"|
"addresses", "value": ..., "ttl": seconds (optional: a timed block), "remove": false}`` stores a
revocation or block in the shared state, which every instance applies within a second (the SOC's
response actions use it; audited as a ``gateway-state`` line). Anything else is 404. It serves
no client traffic; the only body it reads is that of ``/revoke`` (at most 4 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from gateway.state import Runtime
from gateway.store import KINDS, Change, StoreUnavailable

_MAX_BODY = 4096

log = logging.getLogger(__name__)


class AdminServer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.server: asyncio.Server | None = None
        self.address: tuple[str, int] | None = None

    async def running(self) -> None:
        listen = self.runtime.config.admin
        self.server = await asyncio.start_server(self._handle, listen.host, listen.port)
        sockname = self.server.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])

    async def done(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            length = 0
            while (header := await asyncio.wait_for(reader.readline(), 5)) not in (
                b"\r\n",
                b"\n",
                b"",
            ):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
            parts = line.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "POST" and parts[1] == "/revoke":
                if length > _MAX_BODY:
                    status, ctype, body = "413 Payload Too Large", "text/plain", b"too large\n"
                else:
                    data = await asyncio.wait_for(reader.readexactly(length), 5)
                    status, ctype, body = await self._revoke(data)
                parts[0] = "GET"  # send the body
            else:
                path = parts[1] if len(parts) >= 2 and parts[0] in ("GET", "HEAD") else ""
                status, ctype, body = self._route(path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (body if parts and parts[0] == "GET" else b""))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _revoke(self, data: bytes) -> tuple[str, str, bytes]:
        try:
            raw = json.loads(data)
            kind, value = raw["kind"], raw["value"]
            ttl = raw.get("ttl")
            if kind not in KINDS or not isinstance(value, str) or not value:
                raise ValueError("kind must be one of " + ", ".join(KINDS))
            if ttl is not None and not (isinstance(ttl, (int, float)) and ttl > 0):
                raise ValueError("ttl must be a positive number of seconds")
        except (ValueError, KeyError, TypeError) as exc:
            message = json.dumps({"error": f"bad revocation: {exc}"}).encode()
            return "400 Bad Request", "application/json", message
        change = Change(
            kind,
            value.lower() if kind == "devices" else value,
            None if ttl is None else time.time() + float(ttl),
            bool(raw.get("remove", False)),
        )
        try:
            await asyncio.to_thread(self.runtime.store.revoke, change)
        except StoreUnavailable as exc:
            message = json.dumps({"error": exc.message}).encode()
            return "503 Service Unavailable", "application/json", message
        action = "removed" if change.removed else ("blocked" if ttl else "revoked")
        self.runtime.state_changed(
            "revocations", f"{action} {kind} {value} via the admin listener", up=None
        )
        return "200 OK", "application/json", json.dumps({"ok": True, "action": action}).encode()

    def _route(self, path: str) -> tuple[str, str, bytes]:
        runtime = self.runtime
        if path == "/healthz":
            return "200 OK", "application/json", b'{"status":"alive"}'
        if path == "/readyz":
            ready = runtime.is_ready
            runtime.metrics.set("tulou_gateway_ready", "1 when ready to serve.", float(ready))
            body = {
                "ready": ready,
                "draining": runtime.draining,
                "policy_sha256": runtime.policy.digest if runtime.policy else None,
                "rules": len(runtime.policy.rules) if runtime.policy else 0,
            }
            status = "200 OK" if ready else "503 Service Unavailable"
            return status, "application/json", json.dumps(body).encode()
        if path == "/metrics":
            runtime.metrics.set(
                "tulou_gateway_ready", "1 when ready to serve.", float(runtime.is_ready)
            )
            return "200 OK", "text/plain; version=0.0.4", runtime.metrics.render().encode()
        return "404 Not Found", "text/plain", b"not found\n"
