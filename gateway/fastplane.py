"""``tulou gateway run --data-plane nginx``: nginx in front, the decision point behind it.

One process runs the decision point (:mod:`gateway.decision`: the Unix-socket service, the file
watcher and revocation sync, the admin listener) and supervises one nginx master rendered from
the same gateway config (:mod:`gateway.nginx_conf`, started with ``TZ=UTC`` so its audit
timestamps are UTC).

- SIGHUP: the reloadable files are re-read (last good kept), the gateway config is read again
  and nginx.conf re-rendered; the new nginx.conf is tested (``nginx -t``) and only then
  replaces the running one (nginx reloads gracefully: old workers finish their requests). A
  config that does not load, render or test is refused: **the last good one keeps serving**,
  ``tulou_gateway_reloads_total{file="nginx",result="failed"}`` counts it.
- SIGTERM / SIGINT: readiness 503, nginx shuts down gracefully (SIGQUIT: stops accepting, lets
  requests in flight finish, at most ``drain_timeout``), then the decision point stops.
- nginx exiting on its own ends the run with an error (a supervisor restarts the whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.admin import AdminServer
from gateway.bootstrap import build_runtime
from gateway.config import GatewayConfig, Listen, load_config
from gateway.decision.files import Inputs
from gateway.decision.point import DecisionPoint
from gateway.decision.service import DecisionService
from gateway.nginx_conf import render
from tulou.errors import ConfigError, UnavailableError

log = logging.getLogger(__name__)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def nginx_binary(config: GatewayConfig) -> str:
    found = shutil.which(config.data_plane.nginx) or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise ConfigError("nginx is not installed (Debian: nginx-light)")
    return found


def test_config(binary: str, conf: Path) -> str | None:
    """``nginx -t`` on ``conf``: None when it passes, else nginx's message."""
    result = subprocess.run(
        [binary, "-t", "-q", "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TZ": "UTC"},
    )
    return None if result.returncode == 0 else (result.stderr.strip() or "nginx -t failed")


class FastPlane:
    """The running fast plane (see the module docstring)."""

    def __init__(self, config: GatewayConfig, config_path: Path | None = None) -> None:
        if config.listen.port == 0:  # nginx needs a fixed port: pick one now
            port = _free_port(config.listen.host)
            config = config.model_copy(
                update={"listen": Listen(host=config.listen.host, port=port)}
            )
        self.config = config
        self.config_path = config_path
        self.runtime = build_runtime(config)
        self.inputs = Inputs(self.runtime)
        self.inputs.load()
        section = config.data_plane
        self.point = DecisionPoint(
            self.runtime, cache_ttl=section.cache_ttl, cache_size=section.cache_size
        )
        self.service = DecisionService(self.point)
        self.admin = AdminServer(self.runtime)
        self.workdir = section.workdir
        self.socket = section.socket
        self.conf = self.workdir / "nginx.conf"
        self.binary = nginx_binary(config)
        self.nginx: subprocess.Popen[bytes] | None = None
        self.stopped = asyncio.Event()

    def _write_conf(self, config: GatewayConfig) -> None:
        """Render, test and install nginx.conf; raises ConfigError (the old one stays)."""
        text = render(config, socket=self.socket, workdir=self.workdir, audit=config.audit)
        for sub in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        candidate = self.conf.with_suffix(".new")
        candidate.write_text(text, encoding="utf-8")
        problem = test_config(self.binary, candidate)
        if problem is not None:
            raise ConfigError(f"nginx refused the rendered config: {problem}")
        candidate.replace(self.conf)

    async def run(self, announce: Callable[[dict[str, Any]], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.service.start(self.socket)
        self._write_conf(self.config)
        self.nginx = subprocess.Popen(
            [self.binary, "-c", str(self.conf), "-g", "daemon off;"],
            env={**os.environ, "TZ": "UTC"},
        )
        self.inputs.start(loop)
        await self.admin.running()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.drain()))
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            await self._wait_listening()
            self.runtime.ready = True
            info = {
                "event": "listening",
                "data_plane": "nginx",
                "proxy": [self.config.listen.host, self.config.listen.port],
                "admin": list(self.admin.address or ("", 0)),
                "policy_sha256": self.runtime.policy.digest if self.runtime.policy else None,
                "nginx_pid": self.nginx.pid,
                "decision_socket": str(self.socket),
            }
            log.info("fast plane listening: %s", json.dumps(info))
            if announce is not None:
                announce(info)
            watcher = loop.create_task(self._watch_nginx())
            await self.stopped.wait()
            watcher.cancel()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            await self._stop_nginx(graceful=False)
            await self.inputs.stop()
            await self.admin.done()
            await self.service.stop()
            self.runtime.store.close()
            self.runtime.audit.close()
        if self.failure is not None:
            raise UnavailableError(self.failure)

    failure: str | None = None

    async def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        host, port = self.config.listen.host, self.config.listen.port
        while time.monotonic() < deadline:
            assert self.nginx is not None
            if self.nginx.poll() is not None:
                raise UnavailableError(f"nginx exited with {self.nginx.returncode} at start")
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise UnavailableError("nginx did not listen within 20 s")

    async def _watch_nginx(self) -> None:
        while self.nginx is not None and self.nginx.poll() is None:
            await asyncio.sleep(0.2)
        if not self.runtime.draining:
            self.failure = "nginx exited unexpectedly"
            log.error(self.failure)
            self.stopped.set()

    def reload(self) -> dict[str, str]:
        """SIGHUP: files, then gateway config + nginx.conf (last good kept on any error)."""
        outcomes = self.inputs.check(force=True)
        try:
            config = self.config
            if self.config_path is not None:
                loaded = load_config(self.config_path)
                config = loaded.model_copy(update={"listen": self.config.listen})
            self._write_conf(config)
        except ConfigError as exc:
            log.error("nginx reload refused, last good config kept: %s", exc)
            outcomes["nginx"] = f"refused: {exc}"
            result = "failed"
        else:
            if self.nginx is not None and self.nginx.poll() is None:
                self.nginx.send_signal(signal.SIGHUP)
            self.point.reconfigure(config)
            self.runtime.config = config
            self.config = config
            outcomes["nginx"] = "reloaded"
            result = "ok"
        self.runtime.metrics.inc(
            "tulou_gateway_reloads_total", "Hot reloads.", file="nginx", result=result
        )
        return outcomes

    async def drain(self) -> None:
        if self.runtime.draining:
            return
        self.runtime.draining = True
        log.info(
            "draining: nginx stops accepting, up to %ss for requests", self.config.drain_timeout
        )
        await self._stop_nginx(graceful=True)
        self.stopped.set()

    async def _stop_nginx(self, *, graceful: bool) -> None:
        process = self.nginx
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT if graceful else signal.SIGTERM)
        deadline = time.monotonic() + (self.config.drain_timeout if graceful else 5)
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if process.poll() is None:
            process.kill()
            process.wait()
