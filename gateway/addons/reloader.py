"""Addon: hot reload. Watches the reloadable files and re-applies their option on change.

Every ``reload_interval`` seconds (and on demand, e.g. SIGHUP) the SHA-256 of each watched file
is compared with the last one applied; on a change the option is set again, which makes its
addon re-read and validate the file. A broken file makes that addon raise ``OptionsError``:
mitmproxy rolls the option back, the addon keeps its last good state, and this addon logs the
reason once per distinct broken content.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Any

from mitmproxy import exceptions

from gateway.state import Runtime

log = logging.getLogger(__name__)

WATCHED = ("tulou_policy", "tulou_issuers", "tulou_revocations", "tulou_inventory")


def _digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class Reloader:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.seen: dict[str, str | None] = {}
        self.task: asyncio.Task[None] | None = None
        self.last_error: dict[str, str] = {}

    def running(self) -> None:
        from mitmproxy import ctx  # noqa: PLC0415

        for option in WATCHED:
            path = getattr(ctx.options, option)
            self.seen[option] = _digest(path) if path else None
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def done(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.config.reload_interval)
            self.check()

    def check(self, force: bool = False) -> dict[str, str]:
        """Re-apply changed files (all of them with ``force``). Returns option -> outcome."""
        from mitmproxy import ctx  # noqa: PLC0415

        outcomes: dict[str, str] = {}
        for option in WATCHED:
            path = getattr(ctx.options, option)
            if not path:
                continue
            digest = _digest(path)
            if digest == self.seen.get(option) and not force:
                continue
            self.seen[option] = digest
            try:
                options: Any = ctx.options
                options.update(**{option: path})
            except exceptions.OptionsError as exc:
                outcomes[option] = f"refused: {exc}"
                if self.last_error.get(option) != str(exc):
                    log.error("reload of %s refused, last good kept: %s", option, exc)
                self.last_error[option] = str(exc)
            else:
                outcomes[option] = "reloaded"
                self.last_error.pop(option, None)
                log.info("reloaded %s from %s", option, path)
        return outcomes
