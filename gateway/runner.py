"""Embed mitmproxy through its master API and run the gateway until told to stop.

mitmproxy's defaults suit an interception proxy, not a gateway; these are overridden here:

- ``block_global`` off: the public must reach the gateway (mitmproxy blocks public IPs);
- ``connection_strategy`` lazy: no upstream connection before the access decision;
- ``keep_host_header`` on: the upstream sees the host the client asked for;
- ``request_client_cert`` on (verification is ours: ``TlsGuard``);
- ``upstream_cert`` off, ``ssl_insecure`` off (upstream TLS is verified), ``rawtcp`` and
  ``http3`` off, the bundled compromised-CA options (``emudhra``, ``emudhra_old``) off;
- plain HTTP on the TLS listener is refused (``TlsGuard``); a body size limit is set.

Only the mitmproxy addons a reverse proxy needs are loaded (core, block, proxyserver,
next layer, TLS config, error check), followed by the gateway's own in their fixed order.

Signals: SIGHUP re-reads every reloadable file now; SIGTERM / SIGINT drain: readiness goes to
503, the listener closes, live connections get ``drain_timeout`` seconds, then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mitmproxy import exceptions
from mitmproxy.addons import block, core, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master
from mitmproxy.options import Options
from mitmproxy.utils import human

from gateway import mitmpatch
from gateway.addons import failsafe_for, gateway_addons
from gateway.addons.admin_server import AdminServer
from gateway.addons.reloader import Reloader
from gateway.bootstrap import build_runtime, open_state
from gateway.config import GatewayConfig, parse_size, route_body_limit
from gateway.hookindex import install as install_hook_index
from tulou.errors import ConfigError, UnavailableError

__all__ = ["Gateway", "build_runtime", "gateway_options", "open_state"]

log = logging.getLogger(__name__)


def _server_pem(config: GatewayConfig) -> Path:
    """mitmproxy wants key and certificate in one PEM: write it (0600) under confdir."""
    try:
        cert = config.tls.cert.read_bytes()
        key = config.tls.key.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the gateway TLS files: {exc}") from None
    config.confdir.mkdir(parents=True, exist_ok=True)
    target = config.confdir / "gateway-server.pem"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.rstrip(b"\n") + b"\n" + cert)
    return target


def _size_in_bytes(config: GatewayConfig) -> str:
    """mitmproxy's ``body_size_limit``: the largest a route accepts (each checks its own)."""
    try:
        human.parse_size(config.body_size_limit)
    except ValueError:
        raise ConfigError(f"body_size_limit {config.body_size_limit!r} is not a size") from None
    largest = max(
        [parse_size(config.body_size_limit) or 0]
        + [route_body_limit(config, route) for route in config.routes]
    )
    return str(largest)


def gateway_options(config: GatewayConfig, server_pem: Path) -> dict[str, Any]:
    """The mitmproxy option values of this gateway (see the module docstring)."""
    scheme, host, port = config.routes[0].upstream_parts
    return {
        # The reverse target is only a default: Forwarder routes every request explicitly.
        "mode": [f"reverse:{scheme}://{host}:{port}"],
        "listen_host": config.listen.host,
        "listen_port": config.listen.port,
        "confdir": str(config.confdir),
        "certs": [f"*={server_pem}"],
        "request_client_cert": True,
        "connection_strategy": "lazy",
        "keep_host_header": True,
        "block_global": False,
        "block_private": False,
        "upstream_cert": False,
        "ssl_insecure": False,
        "ssl_verify_upstream_trusted_ca": str(config.upstream_ca) if config.upstream_ca else None,
        "emudhra": False,
        "emudhra_old": False,
        "rawtcp": False,
        "http3": False,
        "tls_version_client_min": "TLS1_2",
        # In bytes: mitmproxy parses this option twice per request, and a plain number is
        # its fast path (the same limit; a malformed value is still refused here).
        "body_size_limit": _size_in_bytes(config),
        "tulou_policy": str(config.policy),
        "tulou_issuers": str(config.identity.issuers),
        "tulou_revocations": str(config.identity.revocations or ""),
        "tulou_inventory": str(config.device.inventory or ""),
    }


class Gateway:
    """One running gateway: the master, its runtime, and the lifecycle around them."""

    def __init__(self, config: GatewayConfig, *, reuse_port: bool = False) -> None:
        self.config = config
        self.runtime = build_runtime(config)
        self.master: Master | None = None
        self.reuse_port = reuse_port

    def _addon(self, kind: type) -> Any:
        assert self.master is not None
        for addon in self.master.addons.chain:
            if isinstance(addon, kind):
                return addon
        return None

    async def run(self, announce: Callable[[dict[str, Any]], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        master: Any = Master(Options(), event_loop=loop)
        mitmpatch.install()
        mitmpatch.REUSE_PORT[0] = self.reuse_port
        ours = gateway_addons(self.runtime)
        install_hook_index(master, failsafe_for(ours, self.runtime))
        self.master = master
        server_addon: Any = proxyserver.Proxyserver
        master.addons.add(
            errorcheck.ErrorCheck(repeat_errors_on_stderr=True),
            core.Core(),
            block.Block(),
            server_addon(),
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),
            *ours,
        )
        try:
            master.options.update(**gateway_options(self.config, _server_pem(self.config)))
        except exceptions.OptionsError as exc:
            raise ConfigError(str(exc)) from None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.drain()))
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        waiter = asyncio.ensure_future(self._announce_when_listening(announce))
        try:
            await master.run()
        except SystemExit as exc:  # ErrorCheck exits when startup logged errors
            raise UnavailableError("the gateway could not start (see the log above)") from exc
        finally:
            waiter.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self.runtime.store.close()
            self.runtime.audit.close()

    async def _announce_when_listening(
        self, announce: Callable[[dict[str, Any]], None] | None
    ) -> None:
        server = self._addon(proxyserver.Proxyserver)
        admin = self._addon(AdminServer)
        while not (server.listen_addrs() and admin.address):
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 5
        while self.runtime.shared and self.runtime.state_synced is None:
            if time.monotonic() > deadline:
                log.error("shared state not reachable at start; revocations fail closed")
                break
            await asyncio.sleep(0.02)
        self.runtime.ready = True
        addr = server.listen_addrs()[0]
        info = {
            "event": "listening",
            "proxy": [addr[0], addr[1]],
            "admin": list(admin.address),
            "policy_sha256": self.runtime.policy.digest if self.runtime.policy else None,
        }
        log.info("gateway listening on %s:%s, admin on %s:%s", *addr[:2], *admin.address)
        if announce is not None:
            announce(info)

    def reload(self) -> dict[str, str]:
        """Re-read every reloadable file now (SIGHUP)."""
        reloader = self._addon(Reloader)
        return reloader.check(force=True) if reloader else {}

    async def drain(self) -> None:
        """Graceful shutdown: not ready, stop listening, let connections finish, exit."""
        if self.master is None or self.runtime.draining:
            return
        self.runtime.draining = True
        log.info("draining: listener closed, waiting up to %ss", self.config.drain_timeout)
        options: Any = self.master.options
        with contextlib.suppress(exceptions.OptionsError):
            options.update(server=False)
        server = self._addon(proxyserver.Proxyserver)
        deadline = time.monotonic() + self.config.drain_timeout
        while server.active_connections() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        master: Any = self.master
        master.shutdown()
