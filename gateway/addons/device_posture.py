"""Addon: device revocation and posture from the device inventory (option ``tulou_inventory``).

The certificate itself was verified by ``TlsGuard``; here the current revocation list is
re-checked on every request (a reload revokes at once) and the inventory supplies the owners
(for subject binding) and the posture. The inventory is hot-reloaded; a broken file raises
``OptionsError`` and the last good inventory stays.
"""

from __future__ import annotations

from pathlib import Path

from mitmproxy import http
from mitmproxy.addonmanager import Loader

from gateway.addons._common import deny, options_error, state_of
from gateway.inventory import Inventory, load_inventory
from gateway.policy import BUILTIN_REVOKED, Decision
from gateway.state import Runtime
from tulou.errors import ConfigError


class DevicePosture:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "tulou_inventory",
            str,
            "",
            "Device inventory (YAML): owners and posture by certificate fingerprint. "
            "Re-read when it changes; a broken file keeps the last good inventory.",
        )

    def configure(self, updated: set[str]) -> None:
        if "tulou_inventory" not in updated:
            return
        from mitmproxy import ctx  # noqa: PLC0415 - ctx is only valid once the master runs

        path = ctx.options.tulou_inventory
        if not path:
            self.runtime.inventory = Inventory({}, self.runtime.config.device.freshness)
            self.runtime.reloaded()
            return
        try:
            inventory = load_inventory(Path(path), self.runtime.config.device.freshness)
        except ConfigError as exc:
            self.runtime.metrics.inc(
                "tulou_gateway_reloads_total", "Hot reloads.", file="inventory", result="failed"
            )
            raise options_error(f"inventory not loaded: {exc}") from None
        self.runtime.inventory = inventory
        self.runtime.reloaded()
        self.runtime.metrics.inc(
            "tulou_gateway_reloads_total", "Hot reloads.", file="inventory", result="ok"
        )

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done or state.device is None:
            return
        fingerprint = state.device.fingerprint
        revoked = self.runtime.revocations.reason(token_id=None, subject=None, device=fingerprint)
        if revoked:
            deny(flow, state, Decision.deny(BUILTIN_REVOKED, revoked, 403))
            return
        if self.runtime.inventory is not None:
            state.owners, state.posture = self.runtime.inventory.lookup(fingerprint, state.moment)
