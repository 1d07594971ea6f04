"""``tulou gateway run --workers N``: N gateway processes on one port, sharing state in Redis.

The supervisor (this module; it imports no mitmproxy) starts N worker processes, each a
complete gateway (``tulou gateway run --worker-port PORT``) whose listener is opened with
``SO_REUSEPORT`` on the same address and port, so the kernel spreads new connections over
them (one event loop per core instead of one for the machine). Each worker has its own admin
listener (``admin.port + i``, its rolling replacement ``admin.port + i + N``, or a free port
when ``admin.port`` is 0) and writes the same
audit file (one ``write(2)`` per line on an ``O_APPEND`` descriptor: lines never interleave).
What must be the same for all of them — replay bindings, rate-limit buckets, revocations and
blocks — is in the shared state, so more than one worker requires ``state.backend: redis``.

Signals to the supervisor:

- SIGTERM / SIGINT: every worker drains (readiness 503, listener closed, live connections get
  ``drain_timeout``), then the supervisor exits 0;
- SIGHUP: every worker re-reads its reloadable files (policy, issuers, revocations, inventory);
- SIGUSR2: rolling restart (new code, certificates, routes): one worker at a time, a
  replacement is started and listening before the old one drains, so the port never stops
  accepting; then one ``{"event": "rolled", "workers": [...]}`` line. (A connection still in
  the old listener's accept queue when it closes is reset
  by the kernel — the SO_REUSEPORT caveat; clients retry.)

A worker that exits on its own is restarted (at most once per second). The supervisor prints
one ``listening`` line (proxy address, each worker's pid and admin address) once all are up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from gateway.config import GatewayConfig
from tulou.errors import ConfigError, UnavailableError

log = logging.getLogger(__name__)
_START_TIMEOUT = 60.0


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[str]
    info: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    shifted: bool = False  # admin on port + i + N (a rolling replacement) instead of + i


class Supervisor:
    def __init__(
        self, config_path: Path, config: GatewayConfig, count: int, log_level: str = "info"
    ) -> None:
        if count < 1:
            raise ConfigError("--workers must be at least 1")
        if count > 1 and config.state.backend != "redis":
            raise ConfigError(
                "--workers N > 1 needs state.backend: redis (replay bindings, rate limits "
                "and revocations must be shared by the workers)"
            )
        self.config_path, self.config, self.count = config_path, config, count
        self.log_level = log_level
        self.port = config.listen.port or _free_port(config.listen.host)
        self.workers: list[Worker] = []
        self.stopping = False
        self.pending: list[int] = []  # signals received, handled by the main loop
        self.announce: Callable[[dict[str, Any]], None] = lambda info: None

    def _admin_port(self, index: int, shifted: bool) -> int:
        base = self.config.admin.port
        return base + index + (self.count if shifted else 0) if base else 0

    def spawn(self, index: int, shifted: bool = False) -> Worker:
        admin = str(self._admin_port(index, shifted))
        command = [
            sys.executable, "-m", "tulou.cli", "gateway", "run",
            "--config", str(self.config_path), "--log-level", self.log_level,
            "--worker-port", str(self.port), "--worker-admin-port", admin,
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        worker = Worker(index, process, shifted=shifted)
        assert process.stdout is not None
        line = _readline(process.stdout, _START_TIMEOUT)
        if not line:
            process.kill()
            process.wait()
            raise UnavailableError(f"worker {index} did not start (see its log above)")
        worker.info = json.loads(line)
        # keep draining the pipe so a chatty worker never blocks on a full one
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        return worker

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self.pending.append(signum)

    def _workers(self) -> list[dict[str, Any]]:
        return [{"pid": w.process.pid, "admin": w.info.get("admin")} for w in self.workers]

    def run(self, announce: Callable[[dict[str, Any]], None]) -> int:
        self.announce = announce
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
            signal.signal(sig, self._signal)
        try:
            self.workers = [self.spawn(i) for i in range(self.count)]
        except UnavailableError:
            self.stop()
            raise
        first = self.workers[0].info
        announce(
            {
                "event": "listening",
                "proxy": [self.config.listen.host, self.port],
                "admin": first.get("admin"),
                "policy_sha256": first.get("policy_sha256"),
                "workers": [
                    {"pid": w.process.pid, "admin": w.info.get("admin")} for w in self.workers
                ],
            }
        )
        while not self.stopping:
            time.sleep(0.1)
            while self.pending:
                self.handle(self.pending.pop(0))
            for position, worker in enumerate(self.workers):
                if not self.stopping and worker.process.poll() is not None:
                    log.error(
                        "worker %d exited with %s; restarting",
                        worker.index,
                        worker.process.returncode,
                    )
                    if time.monotonic() - worker.started < 1:
                        time.sleep(1)
                    self.workers[position] = self.spawn(worker.index, worker.shifted)
        return 0

    def handle(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stop()
        elif signum == signal.SIGHUP:
            for worker in self.workers:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGHUP)
        elif signum == signal.SIGUSR2:
            self.roll()

    def roll(self) -> None:
        """Replace every worker, one at a time, each new one listening before the old drains."""
        for position, old in enumerate(list(self.workers)):
            self.workers[position] = self.spawn(old.index, not old.shifted)
            _terminate(old.process, self.config.drain_timeout + 10)
        log.info("rolling restart done: %d workers replaced", len(self.workers))
        self.announce({"event": "rolled", "workers": self._workers()})

    def stop(self) -> None:
        self.stopping = True
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            _terminate(worker.process, self.config.drain_timeout + 10)


def _terminate(process: subprocess.Popen[str], timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _readline(stream: Any, timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def _drain(stream: Any) -> None:
    with contextlib.suppress(ValueError, OSError):
        for _ in stream:
            pass
