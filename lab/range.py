"""The live city range: the sample apps behind a real zero-trust gateway, on loopback.

``CityRange(workdir)`` makes a fresh lab PKI (:mod:`lab.pki`), starts the three sample apps
(:mod:`lab.apps`, in threads of this process, on free ports), writes a gateway config for them
and runs ``python -m tulou gateway run`` as a child process (proxy and admin on free ports),
then waits for ``/readyz``. Nothing is printed: the gateway's stderr goes to
``workdir/gateway.log``. ``stop()`` (or leaving the ``with`` block) stops the gateway (SIGTERM,
then SIGKILL after a grace period) and the apps; no process is left behind.

Work directory layout::

    gateway.yaml policy.yaml issuers.yaml inventory.yaml revocations.yaml
    audit.jsonl                the gateway's audit lines (flushed per line, before the response)
    logs/<app>-access.log      the apps' nginx combined access logs (flushed before the response)
    pki/ keys/                 see lab.pki (private keys 0600)
    apps/portal/uploads/       what citizens uploaded
    gateway.log                the gateway's own log (stderr)

Who is who and the policy are in :mod:`lab.cityconfig`; docs/lab-range.md describes both.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from gateway.sealing import Sealer
from gateway.tokens import make_codec
from lab.apps import AdminApp, AppServer, CityApp, ExchangeApp, PortalApp
from lab.cityconfig import (
    ASSERTION_ISSUER,
    AUDIENCE,
    GATEWAY_SYSTEM,
    IDP_ISSUER,
    PEER_SYSTEM,
    PEOPLE,
    write_gateway_config,
)
from lab.pki import DEVICES, RangePki, make_pki
from lab.scenarios.base import Stage
from tulou.errors import TulouError, UsageError, VerificationError

START_TIMEOUT = 30.0


class _CityTransport(httpx.BaseTransport):
    """Resolves ``*.city.test`` to the gateway (like ``curl --resolve``), keeping Host and SNI."""

    def __init__(self, inner: httpx.HTTPTransport, port: int) -> None:
        self.inner = inner
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host.endswith(".city.test"):
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def expect_status(response: httpx.Response, *statuses: int) -> httpx.Response:
    """``response`` if its status is one of ``statuses``; else the range misbehaved (raises)."""
    if response.status_code not in statuses:
        request = response.request
        where = (
            f"{request.method} https://{request.headers.get('host')}{request.url.raw_path.decode()}"
        )
        raise VerificationError(
            f"{where} answered {response.status_code}, expected {' or '.join(map(str, statuses))}"
        )
    return response


class CityRange:
    """The running range. Not thread-safe to start/stop; clients may be used from any thread."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.pki = RangePki(self.workdir)
        self.apps: dict[str, AppServer] = {}
        self.gateway_port = 0
        self.admin_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._keys: dict[str, Any] = {}

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> CityRange:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def gateway_pid(self) -> int | None:
        """The gateway process id while it runs (None once stopped)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> CityRange:
        """Make the PKI, start the apps and the gateway; return once the gateway is ready."""
        if self._process is not None:
            raise UsageError("the city range is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.pki = make_pki(self.workdir)
            self._keys = {
                "es-1": load_pem_private_key(self.pki.key("idp-es").read_bytes(), None),
                "sm-1": SM2PrivateKey.from_pem(self.pki.key("idp-sm2").read_bytes()),
            }
            self._start_apps()
            ports = {name: server.port for name, server in self.apps.items()}
            config = write_gateway_config(self.workdir, self.pki, ports)
            self._start_gateway(config)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the gateway (graceful, then forced) and the apps. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for server in self.apps.values():
            server.stop()
        self.apps = {}

    def _start_apps(self) -> None:
        gateway_key = SM2PublicKey.from_pem(self.pki.public("assertion").read_bytes())
        apps: list[CityApp] = [
            PortalApp(uploads=self.workdir / "apps" / "portal" / "uploads"),
            ExchangeApp(),
            AdminApp(),
        ]
        for app in apps:
            log = self.workdir / "logs" / f"{app.name}-access.log"
            server = AppServer(app, log, gateway_key, ASSERTION_ISSUER)
            server.start()
            self.apps[app.name] = server

    def _start_gateway(self, config: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with (self.workdir / "gateway.log").open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tulou", "gateway", "run", "--config", str(config)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        info = json.loads(self._read_announcement(deadline))
        self.gateway_port, self.admin_port = int(info["proxy"][1]), int(info["admin"][1])
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.admin_url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise TulouError(f"the range's gateway is not ready; see {self.workdir / 'gateway.log'}")

    def _read_announcement(self, deadline: float) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.1):
                    line = self._process.stdout.readline()
                    if line:
                        return line
                if self._process.poll() is not None:
                    break
        tail = (self.workdir / "gateway.log").read_text(errors="replace")[-2000:]
        raise TulouError(f"the range's gateway did not start: {tail.strip()}")

    # ----------------------------------------------------------------- what scenarios use

    @property
    def audit_path(self) -> Path:
        """The gateway's audit JSON-lines file (detect format ``gateway.audit``)."""
        return self.workdir / "audit.jsonl"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def access_logs(self) -> list[tuple[Path, str | None]]:
        """The apps' access logs with their detect parser id (``web``)."""
        return [(server.access_log.path, "web") for server in self.apps.values()]

    def client(
        self,
        device: str | None = "alice-laptop",
        source_ip: str = "127.0.0.1",
        *,
        user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) CityRange/1.0",
        timeout: float = 10.0,
    ) -> httpx.Client:
        """An HTTPS client for ``https://<app>.city.test/...`` through the gateway.

        ``device`` names a lab device certificate (``lab.pki.DEVICES``; None = no client
        certificate); ``source_ip`` is the loopback address the connection comes from, so the
        gateway audits it as ``source.ip``.
        """
        if not self.running:
            raise UsageError("the city range is not running")
        context = ssl.create_default_context(cafile=str(self.pki.server_ca))
        if device is not None:
            files = self.pki.devices.get(device)
            if files is None:
                raise UsageError(f"no lab device {device!r} (known: {', '.join(DEVICES)})")
            context.load_cert_chain(str(files.cert), str(files.key))
        inner = httpx.HTTPTransport(verify=context, local_address=source_ip)
        return httpx.Client(
            transport=_CityTransport(inner, self.gateway_port),
            timeout=timeout,
            headers={"User-Agent": user_agent},
        )

    def person_client(self, name: str, **kwargs: Any) -> httpx.Client:
        """A client on ``name``'s own device and address (see :data:`PEOPLE`)."""
        person = PEOPLE[name]
        return self.client(person.device, person.address, **kwargs)

    def token(
        self,
        subject: str,
        *,
        groups: Iterable[str] | None = None,
        roles: Iterable[str] | None = None,
        alg: str = "SM2SM3",
        ttl: int = 600,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A bearer token from the lab identity provider (groups/roles default to PEOPLE's)."""
        person = PEOPLE.get(subject)
        kid = {"SM2SM3": "sm-1", "ES256": "es-1"}.get(alg)
        if kid is None or kid not in self._keys:
            raise UsageError(f"the lab identity provider signs with SM2SM3 or ES256, not {alg!r}")
        moment = int(time.time())
        payload: dict[str, Any] = {
            "iss": IDP_ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": moment,
            "exp": moment + ttl,
            "jti": secrets.token_hex(12),
            "groups": list(groups if groups is not None else (person.groups if person else ())),
            "roles": list(roles if roles is not None else (person.roles if person else ())),
            **(claims or {}),
        }
        token: str = make_codec().encode(
            payload, self._keys[kid], algorithm=alg, headers={"kid": kid}
        )
        return token

    def revoke(
        self,
        *,
        tokens: Iterable[str] = (),
        subjects: Iterable[str] = (),
        devices: Iterable[str] = (),
        timeout: float = 10.0,
    ) -> None:
        """Add token ids, subjects or device names to the revocation list; wait for the reload."""
        path = self.workdir / "revocations.yaml"
        current = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        prints = [self.pki.devices[d].fingerprint for d in devices]
        merged = {
            "tokens": sorted({*current.get("tokens", []), *tokens}),
            "subjects": sorted({*current.get("subjects", []), *subjects}),
            "devices": sorted({*current.get("devices", []), *prints}),
        }
        before = self._reloads("revocations")
        path.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
        assert self._process is not None
        self._process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self._reloads("revocations") <= before:
            if time.monotonic() > deadline:
                raise TulouError("the gateway did not reload the revocation list")
            time.sleep(0.05)

    def _reloads(self, file: str) -> float:
        text = httpx.get(f"{self.admin_url}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("tulou_gateway_reloads_total{") and f'file="{file}"' in line:
                total += float(line.rsplit(" ", 1)[1]) if 'result="ok"' in line else 0.0
        return total

    def sealer(self, system: str = PEER_SYSTEM) -> Sealer:
        """The envelope identity of a lab system, with the range's gateway as its only peer."""
        return Sealer.from_files(
            system,
            self.pki.key(system),
            {GATEWAY_SYSTEM: self.pki.public(GATEWAY_SYSTEM)},
            300,
        )

    # ----------------------------------------------------------------- artifacts

    def log_offsets(self) -> dict[Path, int]:
        """Current size of every access log (call before playing)."""
        return {path: path.stat().st_size if path.exists() else 0 for path, _ in self.access_logs()}

    def collect_logs(self, stage: Stage, offsets: dict[Path, int]) -> list[Path]:
        """Copy what each access log gained since ``offsets`` into the stage and register it."""
        copied: list[Path] = []
        for path, fmt in self.access_logs():
            with path.open("rb") as source:
                source.seek(offsets.get(path, 0))
                data = source.read()
            data = data[: data.rfind(b"\n") + 1]
            if not data:
                continue
            target = stage.workdir / path.name
            target.write_bytes(data)
            copied.append(stage.artifact(target, fmt))
        return copied

    @contextlib.contextmanager
    def recording(self, stage: Stage) -> Iterator[None]:
        """``with city.recording(stage):`` registers the access-log lines written inside."""
        offsets = self.log_offsets()
        try:
            yield
        finally:
            self.collect_logs(stage, offsets)
