"""Addon: the admin listener (plain HTTP, bind it to loopback or a management network).

``GET /healthz`` 200 while the process runs; ``GET /readyz`` 200 when policy, issuers and
device CA are loaded and the gateway is not draining, else 503; ``GET /metrics`` the Prometheus
text exposition. Anything else is 404. It serves no client traffic and reads no request body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from gateway.state import Runtime

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
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 and parts[0] in ("GET", "HEAD") else ""
            status, ctype, body = self._route(path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (body if parts and parts[0] == "GET" else b""))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

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
