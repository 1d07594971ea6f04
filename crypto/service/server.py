"""Run the service under uvicorn, with the TLS client certificate passed to the app.

uvicorn does not put the peer certificate into the ASGI scope, so :class:`TlsScopeProtocol`
(uvicorn's httptools protocol) adds ``scope["extensions"]["tls"]["client_cert_der"]`` from the
connection's SSL object. TLS here is the platform's TLS 1.2/1.3 (ECDSA or RSA certificates):
OpenSSL 3.0 has no TLCP (GB/T 38636) and cannot use SM2 certificates for TLS; SM2 secures
the content (assertions, signatures, envelopes), not the transport.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from crypto.service.app import Service, create_app


class TlsScopeProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol plus the client certificate in the ASGI scope."""

    _client_cert: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._client_cert = ssl_object.getpeercert(binary_form=True)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._client_cert is not None:
            self.scope["extensions"] = {"tls": {"client_cert_der": self._client_cert}}


def uvicorn_config(
    service: Service, *, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    config = service.config
    options: dict[str, Any] = {}
    if config.tls is not None:
        options.update(ssl_certfile=str(config.tls.cert), ssl_keyfile=str(config.tls.key))
        if config.tls.client_ca is not None:
            options.update(ssl_ca_certs=str(config.tls.client_ca), ssl_cert_reqs=ssl.CERT_OPTIONAL)
    return uvicorn.Config(
        create_app(service),
        host=host or config.host,
        port=config.port if port is None else port,
        http=TlsScopeProtocol,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        backlog=512,
        **options,
    )


def serve(service: Service, *, host: str | None = None, port: int | None = None) -> None:
    uvicorn.Server(uvicorn_config(service, host=host, port=port)).run()
