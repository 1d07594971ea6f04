"""Addon: revocations (the file ``tulou_revocations`` and the shared state), enforced live.

Revoked token ids and subjects are refused by the token verifier, revoked device fingerprints
by ``DevicePosture`` and blocked addresses by ``Shield`` on every request, which covers every
new HTTP/1 request and HTTP/2 stream. Connections outlive requests, so whenever the set grows
this addon also closes every live client connection (HTTP/1 keep-alive, HTTP/2, WebSocket)
that authenticated with a token, subject or device that is now revoked (or comes from a
blocked address), and it re-checks WebSocket messages as they pass.

Two sources, enforced as their union: the file (hot-reloaded) and the state store — what the
SOC or an operator pushed to any instance (``POST /revoke`` on an admin listener, ``tulou
gateway revoke``). The store publishes every change (Redis pub/sub: applied here within
milliseconds) and this addon also re-reads the whole set every ``state.sync_interval`` (1 s),
which catches messages missed while disconnected and lets timed blocks expire. Each
successful sync is recorded (``Runtime.state_synced``): with a shared store that has not
answered for ``state.revocation_staleness`` seconds, authenticated requests fail closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from mitmproxy import connection, http
from mitmproxy.addonmanager import Loader

from gateway.addons._common import options_error, state_of
from gateway.revocation import Revocations, as_revocations, load_revocations
from gateway.state import Runtime
from gateway.store import Change, Snapshot, StoreUnavailable, merge
from tulou.errors import ConfigError

__all__ = ["Revoker", "as_revocations"]


log = logging.getLogger(__name__)


class Revoker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # client connection id -> (token ids, subjects, device fingerprints) seen on it
        self.live: dict[str, tuple[set[str], set[str], set[str]]] = {}
        self.addresses: dict[str, str] = {}  # client connection id -> source address
        self.snapshot = Snapshot({})
        self.task: asyncio.Task[None] | None = None
        self.sync_failing = False

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "tulou_revocations",
            str,
            "",
            "Revoked token ids, subjects and device fingerprints (YAML). Re-read when it "
            "changes; live connections of newly revoked parties are closed.",
        )

    def configure(self, updated: set[str]) -> None:
        if "tulou_revocations" not in updated:
            return
        from mitmproxy import ctx  # noqa: PLC0415

        path = ctx.options.tulou_revocations
        try:
            revocations = load_revocations(Path(path)) if path else Revocations()
        except ConfigError as exc:
            self.runtime.metrics.inc(
                "tulou_gateway_reloads_total", "Hot reloads.", file="revocations", result="failed"
            )
            raise options_error(f"revocations not loaded: {exc}") from None
        self.runtime.apply_revocations(file=revocations)
        self.runtime.reloaded()
        self.runtime.metrics.inc(
            "tulou_gateway_reloads_total", "Hot reloads.", file="revocations", result="ok"
        )
        self.sever(self.runtime.revocations)

    # -- the shared state ---------------------------------------------------------------------
    def running(self) -> None:
        loop = asyncio.get_running_loop()
        store = self.runtime.store

        def published(change: Change) -> None:  # any thread (the Redis subscriber's)
            loop.call_soon_threadsafe(self.changed, change)

        store.subscribe(published)
        self.task = loop.create_task(self._sync_loop())

    async def done(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def changed(self, change: Change) -> None:
        """Apply one published change now (on the event loop)."""
        self.snapshot = merge(self.snapshot, [change])
        self._apply()

    def _apply(self) -> None:
        shared = as_revocations(self.snapshot, time.time())
        if shared != self.runtime.shared_revocations:
            log.info(
                "shared revocations now: %d tokens, %d subjects, %d devices, %d addresses",
                len(shared.tokens),
                len(shared.subjects),
                len(shared.devices),
                len(shared.addresses),
            )
            self.runtime.apply_revocations(shared=shared)
            self.runtime.reloaded()
            self.sever(self.runtime.revocations)

    async def _sync_loop(self) -> None:
        interval = self.runtime.config.state.sync_interval
        while True:
            await self.sync()
            await asyncio.sleep(interval)

    async def sync(self) -> bool:
        """Re-read every revocation and block from the store; True when it answered."""
        try:
            snapshot = await asyncio.to_thread(self.runtime.store.snapshot)
        except StoreUnavailable as exc:
            if not self.sync_failing:
                self.sync_failing = True
                self.runtime.state_changed(
                    "revocations", f"revocation sync failed: {exc.message}", up=False
                )
            self._apply()  # timed blocks still expire
            return False
        if self.sync_failing:
            self.sync_failing = False
            self.runtime.state_changed("revocations", "revocation sync works again", up=True)
        self.snapshot = snapshot
        self.runtime.state_synced = time.monotonic()
        self._apply()
        return True

    def sever(self, revocations: Revocations) -> int:
        """Close live connections that used anything revoked. Returns how many were closed."""
        from mitmproxy import ctx  # noqa: PLC0415

        try:
            master: Any = ctx.master
            server = master.addons.get("proxyserver")
        except AttributeError:  # no master (unit tests of the configuration path)
            return 0
        closed = 0
        for conn_id, (tokens, subjects, devices) in list(self.live.items()):
            if (
                tokens & revocations.tokens
                or subjects & revocations.subjects
                or devices & revocations.devices
                or self.addresses.get(conn_id) in revocations.addresses
            ):
                handler = server.connections.get(conn_id) if server else None
                if handler is not None:
                    # mitmproxy has no public "close this client" call; this is what its own
                    # idle-timeout watchdog does to end a connection.
                    handler.close_connection(handler.client)
                    closed += 1
                self.live.pop(conn_id, None)
                self.addresses.pop(conn_id, None)
        if closed:
            log.info("closed %d live connection(s) after revocation", closed)
            self.runtime.metrics.inc(
                "tulou_gateway_connections_closed_total",
                "Live connections closed.",
                float(closed),
                reason="revoked",
            )
        return closed

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        entry = self.live.get(flow.client_conn.id)
        if entry is None:
            entry = self.live[flow.client_conn.id] = (set(), set(), set())
            self.addresses[flow.client_conn.id] = flow.client_conn.peername[0]
        if state.identity is not None:
            entry[0].add(state.identity.token_id)
            entry[1].add(state.identity.subject)
        if state.device is not None:
            entry[2].add(state.device.fingerprint)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None:
            return
        identity, device = state.identity, state.device
        reason = self.runtime.revocations.reason(
            token_id=identity.token_id if identity else None,
            subject=identity.subject if identity else None,
            device=device.fingerprint if device else None,
        )
        if reason is not None and flow.killable:
            log.info("closing WebSocket: %s", reason)
            live: Any = flow
            live.kill()

    def client_disconnected(self, client: connection.Client) -> None:
        self.live.pop(client.id, None)
        self.addresses.pop(client.id, None)
