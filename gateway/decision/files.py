"""The decision point's reloadable inputs and shared revocations, without mitmproxy.

The same files and the same last-good rule as the mitmproxy plane's addons (``PolicyEnforcer``,
``Authenticator``, ``Revoker``, ``DevicePosture``, ``Reloader``): every ``reload_interval``
seconds (and on :meth:`Inputs.check` with ``force``, e.g. SIGHUP) a changed file is read and
validated whole; a broken one is refused, **the last good version stays in force**, the reason
is logged once and ``tulou_gateway_reloads_total{file,result="failed"}`` counts it.

Shared revocations and blocks (``gateway.store``) are applied from the store's publications at
once and re-read every ``state.sync_interval`` (like ``Revoker``); each change bumps the
runtime's generation, which drops the decision cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.inventory import Inventory, load_inventory
from gateway.issuers import load_issuers
from gateway.policy import load_policy
from gateway.revocation import Revocations, as_revocations, load_revocations
from gateway.state import Runtime
from gateway.store import Change, Snapshot, StoreUnavailable, merge
from gateway.tokens import TokenVerifier
from tulou.errors import ConfigError

log = logging.getLogger(__name__)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Inputs:
    """Loads and watches policy, issuers, revocations and inventory into ``runtime``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        config = runtime.config
        self.files: dict[str, tuple[Path | None, Callable[[Path | None], None]]] = {
            "policy": (config.policy, self._policy),
            "issuers": (config.identity.issuers, self._issuers),
            "revocations": (config.identity.revocations, self._revocations),
            "inventory": (config.device.inventory, self._inventory),
        }
        self.seen: dict[str, str | None] = {}
        self.snapshot = Snapshot({})
        self.sync_failing = False
        self.tasks: list[asyncio.Task[None]] = []

    # -- loaders (each raises ConfigError and leaves the runtime as it was) -------------------
    def _policy(self, path: Path | None) -> None:
        assert path is not None
        self.runtime.policy = load_policy(path)

    def _issuers(self, path: Path | None) -> None:
        assert path is not None
        self.runtime.tokens = TokenVerifier(
            load_issuers(path),
            leeway=self.runtime.config.identity.leeway,
            revocations=self.runtime.revocations,
            replay=self.runtime.replay,
        )

    def _revocations(self, path: Path | None) -> None:
        self.runtime.apply_revocations(file=load_revocations(path) if path else Revocations())

    def _inventory(self, path: Path | None) -> None:
        freshness = self.runtime.config.device.freshness
        self.runtime.inventory = (
            load_inventory(path, freshness) if path else Inventory({}, freshness)
        )

    def check(self, force: bool = False) -> dict[str, str]:
        """Re-read changed files (all with ``force``). Returns file -> outcome."""
        outcomes: dict[str, str] = {}
        for name, (path, loader) in self.files.items():
            digest = _digest(path) if path is not None else None
            if name in self.seen and digest == self.seen[name] and not force:
                continue
            self.seen[name] = digest
            try:
                loader(path)
            except ConfigError as exc:
                outcomes[name] = f"refused: {exc}"
                log.error("reload of %s refused, last good kept: %s", name, exc)
                result = "failed"
            else:
                outcomes[name] = "reloaded"
                result = "ok"
                self.runtime.reloaded()
            self.runtime.metrics.inc(
                "tulou_gateway_reloads_total", "Hot reloads.", file=name, result=result
            )
        return outcomes

    def load(self) -> None:
        """The first load: a file that cannot be read is an error (nothing to keep)."""
        for name, (path, loader) in self.files.items():
            loader(path)
            self.seen[name] = _digest(path) if path is not None else None
        self.runtime.reloaded()

    # -- running ------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        def published(change: Change) -> None:  # any thread (the Redis subscriber's)
            loop.call_soon_threadsafe(self.changed, change)

        self.runtime.store.subscribe(published)
        self.tasks = [loop.create_task(self._watch()), loop.create_task(self._sync_loop())]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.config.reload_interval)
            self.check()

    def changed(self, change: Change) -> None:
        self.snapshot = merge(self.snapshot, [change])
        self._apply()

    def _apply(self) -> None:
        shared = as_revocations(self.snapshot, time.time())
        if shared != self.runtime.shared_revocations:
            self.runtime.apply_revocations(shared=shared)
            self.runtime.reloaded()

    async def _sync_loop(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(self.runtime.config.state.sync_interval)

    async def sync(self) -> bool:
        """Re-read every revocation and block from the store; True when it answered."""
        try:
            snapshot: Any = await asyncio.to_thread(self.runtime.store.snapshot)
        except StoreUnavailable as exc:
            if not self.sync_failing:
                self.sync_failing = True
                self.runtime.state_changed(
                    "revocations", f"revocation sync failed: {exc.message}", up=False
                )
            self._apply()
            return False
        if self.sync_failing:
            self.sync_failing = False
            self.runtime.state_changed("revocations", "revocation sync works again", up=True)
        self.snapshot = snapshot
        self.runtime.state_synced = time.monotonic()
        self._apply()
        return True
