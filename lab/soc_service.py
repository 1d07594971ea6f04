"""The lab's SOC: ``tulou soc serve`` as a child process, with a service and an analyst account.

The SOC keeps its SQLite database under ``<data_dir>/soc/`` (embedded default). Accounts are
created in-process through the SOC's own code (``soc.auth``, audited like the CLI does); the
server runs as a subprocess so it is exactly what an operator starts. Secrets (the analyst's
password, the tokens, the session key) are generated per range, handed to children through the
environment only and never printed unless the caller asks (the demo prints the login once).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tulou.errors import NotFoundError, UnavailableError

ANALYST = "analyst"
SERVICE = "detect"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class LabSoc:
    """The SOC for one range: start() it, use its tokens, stop() it."""

    data_dir: Path
    port: int = 0
    events_url: str | None = None
    #: The rules the range deploys: the SOC loads them into its ATT&CK catalogue at start.
    rules_dir: Path | None = None
    analyst_password: str = field(default="", repr=False)
    service_token: str = field(default="", repr=False)
    analyst_token: str = field(default="", repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for children (detect, drills) that talk to this SOC."""
        env = {
            "TULOU_DATA_DIR": str(self.data_dir),
            "TULOU_SECRET_KEY": self._secret_key(),
            "TULOU_SOC_URL": self.url,
            "TULOU_SOC_TOKEN": self.service_token,
        }
        if self.events_url:
            env["TULOU_SOC_EVENTS_URL"] = self.events_url
        if self.rules_dir is not None:
            env["TULOU_SOC_RULES"] = str(self.rules_dir)
        return env

    def _secret_key(self) -> str:
        return self._secret("lab-session.key", 32)

    def _secret(self, name: str, size: int) -> str:
        """A random secret kept 0600 under <data_dir>/soc/ so a rerun finds the same one."""
        path = self.data_dir / "soc" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(size))
        return path.read_text().strip()

    def provision(self) -> None:
        """Create the database, the analyst and the service account, and their tokens."""
        from soc import audit, auth, config  # noqa: PLC0415 - the SOC is heavy to import
        from tulou.settings import load_settings  # noqa: PLC0415

        self.analyst_password = self._secret("lab-analyst.password", 12)
        settings = load_settings(data_dir=self.data_dir)
        db = config.database(settings)
        db.upgrade()
        with db.write() as session:
            for username, role, password in (
                (ANALYST, "analyst", self.analyst_password),
                (SERVICE, "service", None),
            ):
                try:
                    auth.find_user(session, username)
                except NotFoundError:
                    auth.create_user(session, username, role, password)
                    audit.append(
                        session,
                        config.audit_hash(),
                        actor="lab",
                        action="user.create",
                        target=f"user:{username}",
                        detail={"role": role},
                    )
            self.service_token = auth.create_token(session, SERVICE, "lab-detect")
            self.analyst_token = auth.create_token(session, ANALYST, "lab-checks")
        db.dispose()

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.provision()
        if self.port and not port_is_free(self.port):
            raise UnavailableError(f"port {self.port} is in use: pass another one (--port)")
        self.port = self.port or free_port()
        log_path = self.data_dir / "soc" / "serve.log"
        self._log = log_path.open("ab")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tulou",
                "soc",
                "serve",
                "--port",
                str(self.port),
                "--insecure-cookies",
                "--metrics-cache",
                "1",
            ],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise UnavailableError(
                    f"the SOC exited with {self._process.returncode}; see {log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/openapi.json", timeout=2):  # noqa: S310 - loopback SOC
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise UnavailableError(f"the SOC did not answer within {timeout:.0f} s; see {log_path}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def alerts(self, **query: str) -> list[dict[str, Any]]:
        """The SOC's alert queue (as the analyst), filtered like GET /api/v1/alerts."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "200", **query}
        while True:
            url = f"{self.url}/api/v1/alerts?{urllib.parse.urlencode(params)}"
            request = urllib.request.Request(url)  # noqa: S310 - loopback SOC
            request.add_header("Authorization", f"Bearer {self.analyst_token}")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback SOC
                    page = json.loads(response.read())
            except (urllib.error.URLError, OSError) as exc:
                raise UnavailableError(f"SOC alert queue: {exc}") from exc
            items.extend(page["items"])
            if not page.get("next_cursor"):
                return items
            params["cursor"] = page["next_cursor"]

    def __enter__(self) -> LabSoc:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
