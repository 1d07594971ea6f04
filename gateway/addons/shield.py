"""Addon: what a client can cost the gateway before any identity is known.

- **Per-address budget first.** Every request spends a token of its source address's bucket
  (``rate_limit.ip``) before anything else is checked, so a denied request (bad token, bad
  certificate, unknown route, malformed) costs its sender like an allowed one; refusals made
  below the addons (``gateway.mitmpatch``: oversized heads, unparsable requests, malformed
  HTTP/2) spend it too and are audited here. Blocked addresses (``addresses`` in the
  revocations or a block pushed by the SOC) are refused (403).
- **Connections.** At most ``limits.max_connections_per_address`` open connections per
  address (more are closed at accept, audited).
- **Time.** mitmproxy only closes connections idle for ``tcp_timeout`` — and a byte now and
  then keeps one alive (slowloris). Here each connection has a deadline for its current phase:
  a complete request head within ``header_timeout`` of connecting (or of the previous response),
  the body within ``body_timeout`` of its head, and ``idle_timeout`` between requests of a
  keep-alive or HTTP/2 connection. A sweep closes connections past their deadline twice a
  second (a head timeout is audited as ``builtin:timeout``). WebSocket connections are exempt
  once upgraded (they end with ``tcp_timeout`` of silence, or on revocation).
- **Header count** (HTTP/2, whose size HPACK already bounds): more than
  ``limits.max_header_count`` fields is refused with 431.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from mitmproxy import connection, http

from gateway import mitmpatch
from gateway.addons._common import deny, state_of
from gateway.audit import decision_event, now
from gateway.policy import (
    BUILTIN_BLOCKED,
    BUILTIN_PROTOCOL_ERROR,
    BUILTIN_RATE_LIMITED,
    BUILTIN_TIMEOUT,
    BUILTIN_TOO_LARGE,
    Decision,
)
from gateway.state import Runtime
from gateway.store import BucketSpec

log = logging.getLogger(__name__)
_SWEEP = 0.5


@dataclass(slots=True)
class _Conn:
    address: str
    port: int
    deadline: float  # time.monotonic() by which the current phase must end; inf = none
    phase: str = "head"  # head | body | wait | idle | websocket
    inflight: int = 0


class Shield:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.limits = runtime.config.limits
        ip = runtime.config.rate_limit.ip
        self.ip = BucketSpec(ip.rate, ip.burst) if ip else None
        self.conns: dict[str, _Conn] = {}
        self.per_address: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None
        mitmpatch.LIMITS[0] = mitmpatch.HeadLimits(
            self.limits.max_header_bytes, self.limits.max_header_count
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def running(self) -> None:
        mitmpatch.REFUSALS.append(self.refused)
        self.task = asyncio.get_running_loop().create_task(self._sweeper())

    async def done(self) -> None:
        with contextlib.suppress(ValueError):
            mitmpatch.REFUSALS.remove(self.refused)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    # -- connections --------------------------------------------------------------------------
    def client_connected(self, client: connection.Client) -> None:
        address, port = str(client.peername[0]), int(client.peername[1])
        count = self.per_address.get(address, 0) + 1
        if count > self.limits.max_connections_per_address:
            client.error = "too many connections from this address"
            reason = f"connection refused: more than {count - 1} open from this address"
            self.audit_refusal(address, port, 429, BUILTIN_RATE_LIMITED, reason)
            return
        self.per_address[address] = count
        deadline = time.monotonic() + self.limits.header_timeout
        self.conns[client.id] = _Conn(address, port, deadline)

    def client_disconnected(self, client: connection.Client) -> None:
        conn = self.conns.pop(client.id, None)
        if conn is None:
            return
        left = self.per_address.get(conn.address, 1) - 1
        if left > 0:
            self.per_address[conn.address] = left
        else:
            self.per_address.pop(conn.address, None)

    def _phase(self, flow: http.HTTPFlow, phase: str, seconds: float, delta: int = 0) -> None:
        conn = self.conns.get(flow.client_conn.id)
        if conn is None:
            return
        conn.inflight = max(0, conn.inflight + delta)
        if conn.phase == "websocket" or (phase == "idle" and conn.inflight):
            return  # upgraded, or other HTTP/2 streams still in flight: their deadlines stand
        conn.phase = phase
        conn.deadline = time.monotonic() + seconds if math.isfinite(seconds) else math.inf

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP)
            self.sweep()

    def sweep(self) -> int:
        """Close every connection past its deadline; returns how many were closed."""
        from mitmproxy import ctx  # noqa: PLC0415

        moment = time.monotonic()
        late = [(cid, c) for cid, c in self.conns.items() if c.deadline <= moment]
        if not late:
            return 0
        master: Any = ctx.master
        server: Any = master.addons.get("proxyserver")
        closed = 0
        for cid, conn in late:
            handler = server.connections.get(cid) if server else None
            conn.deadline = math.inf  # closing takes a moment: do not close it twice
            if handler is None:
                continue
            handler.close_connection(handler.client)
            closed += 1
            if conn.phase in ("head", "body"):
                what = "request head" if conn.phase == "head" else "request body"
                reason = f"{what} not received in time; connection closed"
                self.audit_refusal(conn.address, conn.port, 408, BUILTIN_TIMEOUT, reason)
        self.runtime.metrics.inc(
            "tulou_gateway_connections_closed_total",
            "Live connections closed.",
            float(closed),
            reason="timeout",
        )
        return closed

    # -- requests -----------------------------------------------------------------------------
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._phase(flow, "body", self.limits.body_timeout, 1)
        state = state_of(flow)
        if state is None or state.done:
            return
        address = flow.client_conn.peername[0]
        if self.ip is not None:
            assert self.runtime.limiter is not None
            wait = self.runtime.limiter.take([(f"ip:{address}", self.ip)])
            if wait is not None:
                decision = Decision.deny(BUILTIN_RATE_LIMITED, "address rate limit exceeded", 429)
                deny(flow, state, decision, {"Retry-After": str(max(1, math.ceil(wait)))})
                return
        if address in self.runtime.revocations.addresses:
            deny(flow, state, Decision.deny(BUILTIN_BLOCKED, "source address blocked", 403))
            return
        if len(flow.request.headers.fields) > self.limits.max_header_count:
            reason = f"more than {self.limits.max_header_count} header fields"
            deny(flow, state, Decision.deny(BUILTIN_TOO_LARGE, reason, 431))

    def request(self, flow: http.HTTPFlow) -> None:
        self._phase(flow, "wait", math.inf)

    def response(self, flow: http.HTTPFlow) -> None:
        self._phase(flow, "idle", self.limits.idle_timeout, -1)

    def error(self, flow: http.HTTPFlow) -> None:
        self._phase(flow, "idle", self.limits.idle_timeout, -1)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        conn = self.conns.get(flow.client_conn.id)
        if conn is not None:
            conn.phase, conn.deadline = "websocket", math.inf

    # -- refusals below the addons -----------------------------------------------------------
    def refused(self, peer: tuple[str, int] | None, status: int, reason: str) -> None:
        """A refusal made inside mitmproxy (``gateway.mitmpatch``): audit and charge it."""
        address, port = peer if peer else ("", 0)
        rule = BUILTIN_TOO_LARGE if status in (413, 431) else BUILTIN_PROTOCOL_ERROR
        self.audit_refusal(address, port, status, rule, reason)
        if self.ip is not None and address and self.runtime.limiter is not None:
            self.runtime.limiter.spend([(f"ip:{address}", self.ip)])

    def audit_refusal(self, address: str, port: int, status: int, rule: str, reason: str) -> None:
        event = decision_event(
            moment=now(),
            allowed=False,
            rule_id=rule,
            reason=reason,
            status=status,
            duration_ns=0,
            method="",
            host="",
            path="",
            source_ip=address,
            source_port=port or None,
        )
        self.runtime.audit.write(event)
        self.runtime.metrics.inc(
            "tulou_gateway_decisions_total", "Access decisions.", outcome="deny", rule=rule
        )
