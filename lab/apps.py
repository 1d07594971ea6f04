"""The city's sample apps: small real HTTP servers on 127.0.0.1 that sit behind the gateway.

* :class:`PortalApp` (``portal.city.test``) — the citizen service portal: ``GET /api/services``,
  ``GET|POST /api/applications`` (``?id=N``), ``GET /api/files?name=`` (downloadable forms),
  ``POST /api/upload`` (multipart; stored under its uploads directory) and ``GET /uploads/NAME``
  (served back as bytes, never executed).
* :class:`ExchangeApp` (``exchange.city.test``) — data sharing between departments:
  ``GET /api/datasets[/ID]`` for staff, ``POST /inbound/records`` for the peer system (the body
  arrives through the gateway's envelope route, already verified and decrypted).
* :class:`AdminApp` (``admin.city.test``) — the admin console under ``/admin/``; it also insists
  on the ``admin`` role in the assertion (defence in depth).

Every app verifies the gateway's identity assertion (``X-Tulou-Identity``, SM2SM3 JWS, audience
= the route id; docs/gateway.md) and answers 401 without a valid one. Every request — answered
or refused — is written as one nginx ``combined`` access-log line (the format of detect's
``web`` parser), flushed *before* the response is sent, so a client that has its answer can
read its log line. The client address is the ``X-Forwarded-For`` the gateway set (as nginx's
realip module would do for a trusted proxy); ``$remote_user`` is the asserted subject.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import jwt

from crypto.sm2 import SM2PublicKey
from gateway.assertion import verify_assertion
from gateway.tokens import make_codec

ASSERTION_HEADER = "X-Tulou-Identity"
_MAX_BODY = 5 * 1024 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _escape(text: str) -> str:
    """nginx's access-log escaping: ``"``, ``\\``, controls and non-ASCII become ``\\xHH``."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char in '"\\' or code < 0x20 or code >= 0x7F:
            out.extend(f"\\x{byte:02X}" for byte in char.encode("utf-8", "replace"))
        else:
            out.append(char)
    return "".join(out)


def combined_line(
    *,
    client: str,
    user: str | None,
    moment: datetime,
    request_line: str,
    status: int,
    size: int,
    referrer: str | None,
    agent: str | None,
) -> str:
    """One nginx ``combined`` line (without the newline)."""
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S %z")
    return (
        f'{client} - {_escape(user) if user else "-"} [{stamp}] "{_escape(request_line)}" '
        f'{status} {size} "{_escape(referrer) if referrer else "-"}" '
        f'"{_escape(agent) if agent else "-"}"'
    )


class AccessLog:
    """Append-only, thread-safe; every line is flushed as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclass
class AppRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    identity: dict[str, Any]

    @property
    def subject(self) -> str | None:
        sub = self.identity.get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def roles(self) -> list[str]:
        return list(self.identity.get("tulou", {}).get("roles") or [])

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, data: Any) -> Reply:
        return cls(status, json.dumps(data, ensure_ascii=False).encode())


def _not_found() -> Reply:
    return Reply.json(404, {"error": "not found"})


class CityApp(ABC):
    """One sample app. ``routes`` are the gateway route ids whose assertions it accepts."""

    name: ClassVar[str]
    host: ClassVar[str]
    routes: ClassVar[tuple[str, ...]]

    @abstractmethod
    def handle(self, request: AppRequest) -> Reply:
        """Answer one request whose identity assertion has been verified."""


@dataclass
class PortalApp(CityApp):
    name: ClassVar[str] = "portal"
    host: ClassVar[str] = "portal.city.test"
    routes: ClassVar[tuple[str, ...]] = ("portal",)

    uploads: Path
    applications: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {
            1001: {"service": "residence-permit", "owner": "carol", "state": "in review"},
            1002: {"service": "business-licence", "owner": "erin", "state": "approved"},
        }
    )
    forms: ClassVar[dict[str, bytes]] = {
        "residence-permit.pdf": b"%PDF-1.4 residence permit application form\n",
        "business-licence.pdf": b"%PDF-1.4 business licence application form\n",
    }
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: AppRequest) -> Reply:
        path, method = request.path, request.method
        if path == "/api/services" and method in ("GET", "HEAD"):
            return Reply.json(200, {"services": ["residence-permit", "business-licence"]})
        if path == "/api/applications":
            return self._applications(request)
        if path == "/api/files" and method == "GET":
            name = request.arg("name") or ""
            if not _SAFE_NAME.match(name) or ".." in name:
                return Reply.json(400, {"error": "bad file name"})
            form = self.forms.get(name)
            return _not_found() if form is None else Reply(200, form, "application/pdf")
        if path == "/api/upload" and method == "POST":
            return self._upload(request)
        if path.startswith("/uploads/") and method == "GET":
            name = path.removeprefix("/uploads/")
            stored = self.uploads / name
            if not _SAFE_NAME.match(name) or not stored.is_file():
                return _not_found()
            # Served back as inert bytes: this portal never executes what citizens upload.
            return Reply(200, stored.read_bytes(), "application/octet-stream")
        return _not_found()

    def _applications(self, request: AppRequest) -> Reply:
        if request.method == "POST":
            try:
                data = json.loads(request.body or b"{}")
            except ValueError:
                return Reply.json(400, {"error": "body must be JSON"})
            service = data.get("service") if isinstance(data, dict) else None
            if not isinstance(service, str):
                return Reply.json(400, {"error": "service is required"})
            with self._lock:
                number = max(self.applications) + 1
                self.applications[number] = {
                    "service": service,
                    "owner": request.subject,
                    "state": "received",
                }
            return Reply.json(201, {"id": number})
        raw = request.arg("id") or ""
        if not raw.isdigit():  # parameterised look-up: an injected id is just a bad request
            return Reply.json(400, {"error": "id must be a number"})
        found = self.applications.get(int(raw))
        return _not_found() if found is None else Reply.json(200, {"id": int(raw), **found})

    def _upload(self, request: AppRequest) -> Reply:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return Reply.json(415, {"error": "multipart/form-data expected"})
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + request.body
        )
        stored: list[str] = []
        for part in message.iter_parts():
            filename = part.get_filename()
            if not filename:
                continue
            name = Path(filename).name
            if not _SAFE_NAME.match(name):
                return Reply.json(400, {"error": "bad file name"})
            payload = part.get_payload(decode=True)
            self.uploads.mkdir(parents=True, exist_ok=True)
            (self.uploads / name).write_bytes(payload if isinstance(payload, bytes) else b"")
            stored.append(f"/uploads/{name}")
        if not stored:
            return Reply.json(400, {"error": "no file"})
        return Reply.json(201, {"stored": stored})


@dataclass
class ExchangeApp(CityApp):
    name: ClassVar[str] = "exchange"
    host: ClassVar[str] = "exchange.city.test"
    routes: ClassVar[tuple[str, ...]] = ("exchange", "exchange-inbound")

    datasets: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            "population-2025": [{"district": "Gulou", "residents": 687000}],
            "business-register": [{"licence": "BL-2025-0042", "district": "Taijiang"}],
        }
    )
    received: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, request: AppRequest) -> Reply:
        path = request.path
        if request.method == "GET" and path == "/api/datasets":
            return Reply.json(200, {"datasets": sorted(self.datasets)})
        if request.method == "GET" and path.startswith("/api/datasets/"):
            rows = self.datasets.get(path.removeprefix("/api/datasets/"))
            return _not_found() if rows is None else Reply.json(200, {"records": rows})
        if request.method == "POST" and path == "/inbound/records":
            sender = request.headers.get("x-tulou-envelope-sender")
            if not sender:  # only the gateway's envelope route may deliver here
                return Reply.json(403, {"error": "not an inter-system delivery"})
            try:
                records = json.loads(request.body)
            except ValueError:
                return Reply.json(400, {"error": "body must be JSON"})
            self.received.append({"sender": sender, "records": records})
            return Reply.json(201, {"accepted": len(records) if isinstance(records, list) else 1})
        return _not_found()


class AdminApp(CityApp):
    name: ClassVar[str] = "admin"
    host: ClassVar[str] = "admin.city.test"
    routes: ClassVar[tuple[str, ...]] = ("admin",)

    def handle(self, request: AppRequest) -> Reply:
        if "admin" not in request.roles:
            return Reply.json(403, {"error": "admin role required"})
        pages = {
            "/admin": {"console": "city admin"},
            "/admin/users": {"users": ["alice", "bob", "carol", "dave", "erin"]},
            "/admin/audit": {"entries": 0},
        }
        page = pages.get(request.path.rstrip("/") or "/")
        if page is None:
            return _not_found()
        if request.method == "POST" and request.path.rstrip("/") == "/admin/users":
            return Reply.json(201, {"created": True})
        return Reply.json(200, page)


class _Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.1"  # keep-alive with the gateway
    timeout = 30

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if 0 < length <= _MAX_BODY else b""
        identity = self.server.verify(self.headers.get(ASSERTION_HEADER))
        if identity is None:
            reply = Reply.json(401, {"error": "missing or invalid identity assertion"})
        elif length > _MAX_BODY:
            reply = Reply.json(413, {"error": "body too large"})
        else:
            request = AppRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                identity=identity,
            )
            reply = self.server.app.handle(request)
        payload = b"" if self.command == "HEAD" else reply.body
        self.server.access_log.write(
            combined_line(
                client=self._client(),
                user=identity.get("sub") if identity else None,
                moment=datetime.now(UTC),
                request_line=self.requestline,
                status=reply.status,
                size=len(payload),
                referrer=self.headers.get("referer"),
                agent=self.headers.get("user-agent"),
            )
        )
        self.send_response_only(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _client(self) -> str:
        peer = str(self.client_address[0])
        forwarded = self.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        # Trust X-Forwarded-For only from the gateway on loopback (nginx realip behaviour).
        return forwarded if forwarded and peer.startswith("127.") else peer

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the access log above is the record (and stdout/stderr belong to the CLI)."""


class AppServer(ThreadingHTTPServer):
    """One app on 127.0.0.1 (port 0 = any free port), in a daemon thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, app: CityApp, access_log: Path, gateway_key: SM2PublicKey, issuer: str
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app
        self.access_log = AccessLog(access_log)
        self.gateway_key = gateway_key
        self.issuer = issuer
        self._thread: threading.Thread | None = None
        self._codec = make_codec()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def verify(self, header: str | None) -> dict[str, Any] | None:
        """The verified assertion claims, or None (missing, forged, expired, wrong route)."""
        if not header:
            return None
        try:
            unverified = self._codec.decode(header, options={"verify_signature": False})
            audience = unverified.get("aud")
            if audience not in self.app.routes:
                return None
            return verify_assertion(header, self.gateway_key, issuer=self.issuer, audience=audience)
        except jwt.PyJWTError:
            return None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"city-app-{self.app.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()
        self.access_log.close()
