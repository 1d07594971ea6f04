"""Real parts for the gateway tests: a PKI made here, a real upstream app, the real gateway process.

- ``pki``: server CA + gateway certificate; device CA + device certificates (good, expired,
  revoked in a CRL, signed by another CA, self-signed); issuer keys for RS256, ES256, EdDSA
  and SM2; the gateway's SM2 assertion key. All made with ``cryptography`` / ``crypto.sm2``.
- ``upstream``: a threading HTTP server on loopback that records every request it receives and
  echoes it back as JSON (so tests can assert what reached the app, and what did not).
- ``start_gateway``: writes a config and runs ``python -m tulou.cli gateway run`` as a
  subprocess, waits for its "listening" line, and stops it (SIGTERM) after the test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto.sm2 import SM2PrivateKey
from gateway.devices import fingerprint
from gateway.tokens import make_codec

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime.now(dt.UTC)
ISSUER_RS = "https://idp.city.test"
ISSUER_SM = "https://sm-idp.city.test"
AUDIENCE = "tulou-gateway"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


def _pem_pub(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def make_ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    cn: str,
    issuer: tuple[x509.Certificate, Any] | None,
    *,
    client: bool,
    sans: list[x509.GeneralName] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(hours=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(sans or [x509.DNSName(f"{cn}.devices.city.test")]),
            critical=False,
        )
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


class _H2OnlyContext(ssl.SSLContext):
    """httpcore offers ALPN ["http/1.1", "h2"] and mitmproxy honours the client's first choice;
    to test HTTP/2 through the gateway the client must offer h2 only."""

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        super().set_alpn_protocols(["h2"])


@dataclass
class Device:
    name: str
    cert: Path
    key: Path
    fingerprint: str


@dataclass
class Pki:
    root: Path
    server_ca: Path
    devices: dict[str, Device] = field(default_factory=dict)
    issuer_keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    assertion_public: Path | None = None

    def client(self, device: str | None = None, *, http2: bool = False) -> httpx.Client:
        context = (_H2OnlyContext if http2 else ssl.SSLContext)(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=str(self.server_ca))
        if device is not None:
            entry = self.devices[device]
            context.load_cert_chain(str(entry.cert), str(entry.key))
        return httpx.Client(verify=context, http1=not http2, http2=http2, timeout=10)

    def ssl_context(self, device: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.server_ca))
        if device is not None:
            entry = self.devices[device]
            context.load_cert_chain(str(entry.cert), str(entry.key))
        return context

    def token(
        self,
        kid: str = "es-1",
        *,
        sub: str = "alice",
        iss: str = ISSUER_RS,
        aud: str = AUDIENCE,
        ttl: int = 300,
        drop: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        alg: str | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        moment = int(time.time())
        payload: dict[str, Any] = {
            "iss": iss,
            "aud": aud,
            "sub": sub,
            "iat": moment,
            "exp": moment + ttl,
            "jti": secrets.token_hex(8),
            "groups": ["hr-staff"],
            **claims,
        }
        for name in drop:
            payload.pop(name, None)
        algs = {"rs-1": "RS256", "es-1": "ES256", "ed-1": "EdDSA", "sm-1": "SM2SM3"}
        return make_codec().encode(
            payload,
            key if key is not None else self.issuer_keys[kid],
            algorithm=alg or algs[kid],
            headers={"kid": kid, **(headers or {})},
        )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    server_ca = make_ca("Test Server CA")
    server, server_key = make_leaf(
        "gateway",
        server_ca,
        client=False,
        sans=[
            x509.DNSName("hr.city.test"),
            x509.DNSName("*.city.test"),
            x509.DNSName("localhost"),
            x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")),
        ],
    )
    _write(root / "server-ca.pem", server_ca[0].public_bytes(serialization.Encoding.PEM))
    _write(root / "server.pem", server.public_bytes(serialization.Encoding.PEM))
    _write(root / "server.key", _pem_key(server_key))
    device_ca = make_ca("Test Device CA")
    other_ca = make_ca("Rogue CA")
    _write(root / "device-ca.pem", device_ca[0].public_bytes(serialization.Encoding.PEM))
    pki = Pki(root=root, server_ca=root / "server-ca.pem")
    specs: dict[str, dict[str, Any]] = {
        "alice-laptop": {"issuer": device_ca},
        "bob-laptop": {"issuer": device_ca},
        "stale-laptop": {"issuer": device_ca},
        "expired": {
            "issuer": device_ca,
            "not_before": NOW - dt.timedelta(days=10),
            "not_after": NOW - dt.timedelta(days=1),
        },
        "revoked": {"issuer": device_ca},
        "rogue": {"issuer": other_ca},
        "selfsigned": {"issuer": None},
    }
    revoked_serial = 0
    for name, spec in specs.items():
        cert, key = make_leaf(
            name,
            spec["issuer"],
            client=True,
            not_before=spec.get("not_before"),
            not_after=spec.get("not_after"),
        )
        if name == "revoked":
            revoked_serial = cert.serial_number
        pki.devices[name] = Device(
            name,
            _write(root / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM)),
            _write(root / f"{name}.key", _pem_key(key)),
            fingerprint(cert),
        )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(device_ca[0].subject)
        .last_update(NOW - dt.timedelta(hours=1))
        .next_update(NOW + dt.timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(revoked_serial)
            .revocation_date(NOW - dt.timedelta(minutes=5))
            .build()
        )
        .sign(device_ca[1], hashes.SHA256())
    )
    _write(root / "device.crl", crl.public_bytes(serialization.Encoding.PEM))
    keys: dict[str, Any] = {
        "rs-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "es-1": ec.generate_private_key(ec.SECP256R1()),
        "ed-1": ed25519.Ed25519PrivateKey.generate(),
    }
    for kid, key in keys.items():
        _write(root / f"{kid}.pub.pem", _pem_pub(key))
    sm = SM2PrivateKey.generate()
    _write(root / "sm-1.pub.pem", sm.public_key().to_pem())
    keys["sm-1"] = sm
    pki.issuer_keys = keys
    assertion = SM2PrivateKey.generate()
    _write(root / "assertion.key", assertion.to_pem())
    pki.assertion_public = _write(root / "assertion.pub.pem", assertion.public_key().to_pem())
    return pki


class _Recorder(BaseHTTPRequestHandler):
    server: _UpstreamServer

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        self.server.received.append(record)
        payload = json.dumps({"upstream": self.server.name, **record}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True
    received: list[dict[str, Any]]
    name: str


@pytest.fixture(scope="session")
def upstream() -> Iterator[_UpstreamServer]:
    server = _UpstreamServer(("127.0.0.1", 0), _Recorder)
    server.received = []
    server.name = "hr-app"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningGateway:
    process: subprocess.Popen[str]
    port: int
    admin: int
    directory: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def audit(self) -> list[dict[str, Any]]:
        path = self.directory / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def audit_for(self, request_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for event in self.audit():
                if event["event.id"] == request_id:
                    return event
            time.sleep(0.02)
        raise AssertionError(f"no audit line for {request_id}")

    def admin_get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.admin}{path}", timeout=5)

    def stderr(self) -> str:
        return self.stderr_path.read_text()


BASE_POLICY = {
    "version": 1,
    "rules": [
        {"id": "no-admin", "effect": "deny", "paths": ["/admin/**"]},
        {
            "id": "hr-read",
            "effect": "allow",
            "routes": ["hr"],
            "methods": ["GET", "HEAD"],
            "paths": ["/api/**", "/admin/**", "/ws"],
            "groups": ["hr-staff"],
            "device": {"bound": True},
        },
        {
            "id": "hr-write",
            "effect": "allow",
            "routes": ["hr"],
            "methods": ["POST"],
            "paths": ["/api/**"],
            "groups": ["hr-staff"],
            "claims": {"acr": ["mfa"]},
            "device": {"bound": True, "enrolled": True, "disk_encrypted": True, "fresh": True},
        },
        {"id": "public", "effect": "allow", "anonymous": True, "paths": ["/public/**"]},
    ],
}


def write_setup(directory: Path, pki: Pki, upstream_port: int, **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    root = pki.root
    issuers = {
        "issuers": [
            {
                "name": "city-idp",
                "issuer": ISSUER_RS,
                "audience": [AUDIENCE],
                "keys": [
                    {"kid": "rs-1", "alg": "RS256", "public_key": str(root / "rs-1.pub.pem")},
                    {"kid": "es-1", "alg": "ES256", "public_key": str(root / "es-1.pub.pem")},
                    {"kid": "ed-1", "alg": "EdDSA", "public_key": str(root / "ed-1.pub.pem")},
                ],
            },
            {
                "name": "sm-idp",
                "issuer": ISSUER_SM,
                "audience": AUDIENCE,
                "single_use": True,
                "keys": [
                    {"kid": "sm-1", "alg": "SM2SM3", "public_key": str(root / "sm-1.pub.pem")}
                ],
            },
        ]
    }
    checkin = dt.datetime.now(dt.UTC).isoformat()
    inventory = {
        "devices": [
            {
                "fingerprint": pki.devices["alice-laptop"].fingerprint,
                "owners": ["alice"],
                "enrolled": True,
                "os_patch_level": "2025-06",
                "disk_encrypted": True,
                "last_checkin": checkin,
            },
            {
                "fingerprint": pki.devices["bob-laptop"].fingerprint,
                "owners": ["bob"],
                "enrolled": True,
                "disk_encrypted": True,
                "last_checkin": checkin,
            },
            {
                "fingerprint": pki.devices["stale-laptop"].fingerprint,
                "owners": ["alice"],
                "enrolled": True,
                "disk_encrypted": True,
                "last_checkin": (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat(),
            },
        ]
    }
    (directory / "issuers.yaml").write_text(yaml.safe_dump(issuers))
    (directory / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (directory / "revocations.yaml").write_text(yaml.safe_dump({"tokens": [], "subjects": []}))
    (directory / "policy.yaml").write_text(yaml.safe_dump(overrides.pop("policy", BASE_POLICY)))
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "admin": {"host": "127.0.0.1", "port": 0},
        "tls": {"cert": str(root / "server.pem"), "key": str(root / "server.key")},
        "device": {
            "ca": str(root / "device-ca.pem"),
            "crl": str(root / "device.crl"),
            "inventory": "inventory.yaml",
            "freshness": 86400,
        },
        "identity": {"issuers": "issuers.yaml", "revocations": "revocations.yaml", "leeway": 5},
        "policy": "policy.yaml",
        "routes": [
            {"id": "hr", "host": "hr.city.test", "upstream": f"http://127.0.0.1:{upstream_port}"},
            {"id": "down", "host": "down.city.test", "upstream": f"http://127.0.0.1:{free_port()}"},
        ],
        "assertion": {"key": str(root / "assertion.key"), "issuer": "tulou-gateway"},
        "audit": "audit.jsonl",
        "confdir": "mitmproxy",
        "reload_interval": 0.2,
        "drain_timeout": 2,
        # generous failure buckets: the attack suites send hundreds of bad tokens on purpose
        "rate_limit": {
            "subject": {"rate": 200, "burst": 400},
            "device": None,
            "ip": None,
            "auth_failure": {"rate": 500, "burst": 1000},
        },
    }
    config.update(overrides)
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def launch(
    config_path: Path,
    python: tuple[str, ...] = ("-m", "tulou.cli"),
    env: dict[str, str] | None = None,
) -> RunningGateway:
    """Run ``python <python...> gateway run --config FILE`` (``python`` may be ``-c CODE``)."""
    stderr_path = config_path.parent / "stderr.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, *python, "gateway", "run", "--config", str(config_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        process.stdout.close()
        raise AssertionError(f"gateway did not start: {stderr_path.read_text()[-3000:]}")
    info = json.loads(line)
    return RunningGateway(
        process, info["proxy"][1], info["admin"][1], config_path.parent, stderr_path
    )


def stop(gateway: RunningGateway) -> int:
    if gateway.process.poll() is None:
        gateway.process.send_signal(signal.SIGTERM)
        try:
            gateway.process.wait(15)
        except subprocess.TimeoutExpired:
            gateway.process.kill()
            gateway.process.wait()
    if gateway.process.stdout is not None:
        gateway.process.stdout.close()
    return int(gateway.process.returncode)


@pytest.fixture
def start_gateway(
    tmp_path: Path, pki: Pki, upstream: _UpstreamServer
) -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def start(name: str = "gw", **overrides: Any) -> RunningGateway:
        path = write_setup(tmp_path / name, pki, upstream.server_address[1], **overrides)
        gateway = launch(path)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        stop(gateway)


@pytest.fixture(scope="module")
def shared_gateway(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, upstream: _UpstreamServer
) -> Iterator[RunningGateway]:
    """One gateway for the many read-only attack tests of a module (start-up costs ~1 s)."""
    path = write_setup(tmp_path_factory.mktemp("gw"), pki, upstream.server_address[1])
    gateway = launch(path)
    yield gateway
    stop(gateway)


def raw_request(
    gateway: RunningGateway, pki: Pki, data: bytes, device: str | None = "alice-laptop"
) -> tuple[int, bytes]:
    """Send raw bytes over TLS (for requests httpx would normalise); returns (status, body)."""
    context = pki.ssl_context(device)
    chunks = b""
    with (
        socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname="hr.city.test") as tls,
    ):
        tls.sendall(data)
        while True:
            try:
                chunk = tls.recv(65536)
            except (ssl.SSLError, ConnectionError):
                break
            if not chunk:
                break
            chunks += chunk
            if b"\r\n\r\n" in chunks:
                head, _, body = chunks.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    break
    if not chunks:
        return 0, b""
    status = int(chunks.split(b" ", 2)[1])
    return status, chunks.partition(b"\r\n\r\n")[2]


def call(
    gateway: RunningGateway,
    pki: Pki,
    path: str = "/api/people",
    *,
    device: str | None = "alice-laptop",
    token: str | None = None,
    method: str = "GET",
    host: str = "hr.city.test",
    headers: dict[str, str] | None = None,
    http2: bool = False,
    content: bytes | None = None,
) -> tuple[httpx.Response, dict[str, Any]]:
    """One request through the gateway; returns the response and its audit line."""
    sent = {"Host": host, **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    with pki.client(device, http2=http2) as client:
        response = client.request(method, f"{gateway.url}{path}", headers=sent, content=content)
    request_id = response.headers.get("x-tulou-request-id", "")
    event = gateway.audit_for(request_id) if request_id else {}
    return response, event
