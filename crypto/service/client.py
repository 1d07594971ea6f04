"""The HTTP client of the crypto service (used by ``tulou crypto remote`` and ``kms:`` keys).

One keep-alive connection pool per client; every request carries a fresh
``X-Tulou-Request-Id`` and ``X-Tulou-Request-Time``. A refusal raises the
:mod:`tulou.errors` class of its code (so the CLI's exit codes follow) with the code in the
message; :attr:`KmsClient.last_error_code` keeps the code for callers that branch on it.
The token is held as a secret: never in reprs, URLs or logs.
"""

from __future__ import annotations

import base64
import secrets
import ssl
import time
from pathlib import Path
from typing import Any

import httpx

from crypto.service.errors import CODES, ServiceError
from tulou.errors import UnavailableError


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class KmsClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        ca: Path | None = None,
        client_cert: tuple[Path, Path] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if "@" in base_url.split("//", 1)[-1].split("/", 1)[0]:
            raise ServiceError("bad-request", "credentials never go in the service URL")
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        verify: ssl.SSLContext | bool = True
        if ca is not None or client_cert is not None:
            verify = ssl.create_default_context(cafile=str(ca) if ca else None)
            if client_cert is not None:
                verify.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        self._http = httpx.Client(
            base_url=self.base_url, verify=verify, timeout=timeout, headers=self._headers
        )
        self.last_error_code: str | None = None

    def __repr__(self) -> str:
        return f"KmsClient({self.base_url})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KmsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **content: Any,
    ) -> httpx.Response:
        extra = {
            "X-Tulou-Request-Id": secrets.token_hex(16),
            "X-Tulou-Request-Time": str(int(time.time() * 1000)),
            **(headers or {}),
        }
        try:
            response = self._http.request(method, path, params=params, headers=extra, **content)
        except httpx.HTTPError as exc:
            raise UnavailableError(
                f"crypto service at {self.base_url} unreachable: {type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "unavailable", f"HTTP {response.status_code}"
            self.last_error_code = code if code in CODES else "unavailable"
            raise ServiceError(self.last_error_code, message).as_tulou_error()
        self.last_error_code = None
        return response

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A JSON request; the JSON answer, or the :mod:`tulou.errors` class of its code."""
        return self._send(method, path, params=params, headers=headers, json=body).json()

    def raw(
        self, method: str, path: str, content: bytes, *, params: dict[str, Any] | None = None
    ) -> bytes:
        """A request with a binary body and a binary answer (RFC 3161 over HTTP)."""
        headers = {"Content-Type": "application/timestamp-query"}
        return self._send(method, path, params=params, headers=headers, content=content).content

    def get_bytes(self, path: str, *, params: dict[str, Any] | None = None) -> bytes:
        """A published document (CA certificate, CRL, TSA certificate)."""
        return self._send("GET", path, params=params).content

    # -- convenience -------------------------------------------------------------------------
    def key_url(self, key: str) -> str:
        tenant, ring, name = key.split("/")
        return f"/v1/keys/{tenant}/{ring}/{name}"

    def create_key(self, key: str, key_type: str, **options: Any) -> Any:
        tenant, ring, name = key.split("/")
        return self.request(
            "POST",
            f"/v1/tenants/{tenant}/rings/{ring}/keys",
            {"name": name, "type": key_type, **options},
        )

    def encrypt(self, key: str, plaintext: bytes, context: dict[str, str] | None = None) -> Any:
        return self.request(
            "POST",
            self.key_url(key) + "/encrypt",
            {"plaintext": _b64(plaintext), "context": context or {}},
        )

    def decrypt(self, key: str, ciphertext: str, context: dict[str, str] | None = None) -> bytes:
        out = self.request(
            "POST",
            self.key_url(key) + "/decrypt",
            {"ciphertext": ciphertext, "context": context or {}},
        )
        return base64.b64decode(out["plaintext"])

    def sign(self, key: str, data: bytes, *, uid: str | None = None, form: str = "der") -> Any:
        body: dict[str, Any] = {"data": _b64(data), "form": form}
        if uid is not None:
            body["uid"] = uid
        return self.request("POST", self.key_url(key) + "/sign", body)

    def sign_digest(self, key: str, digest: bytes, *, form: str = "der") -> Any:
        return self.request(
            "POST", self.key_url(key) + "/sign", {"digest": _b64(digest), "form": form}
        )

    def verify(
        self,
        key: str,
        data: bytes,
        signature: str,
        *,
        version: int | None = None,
        uid: str | None = None,
        form: str = "der",
    ) -> Any:
        body: dict[str, Any] = {"data": _b64(data), "signature": signature, "form": form}
        if version is not None:
            body["version"] = version
        if uid is not None:
            body["uid"] = uid
        return self.request("POST", self.key_url(key) + "/verify", body)

    def batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.request("POST", "/v1/batch", {"items": items})["results"]
        return out
