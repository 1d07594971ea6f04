"""The request as the TLS front describes it to the decision point.

The front (nginx today, an SM transport terminator later: issue 25) terminates TLS and asks the
decision point with the client's request headers plus these fields, which only the front sets
(a client-sent header of the same name is replaced by the front; the socket is reachable only
by the front):

=============================  =========================================================
``X-Tulou-Front-Request``      the client's request line as sent (``GET /x HTTP/1.1``)
``X-Tulou-Front-Addr``/``-Port``  the client's address and port
``X-Tulou-Front-Tls``          the TLS version (``TLSv1.3``); absent: not TLS
``X-Tulou-Front-Cert``         the client's leaf certificate, PEM, URL-escaped (absent: none)
``X-Tulou-Front-Length``       the declared ``Content-Length`` (absent: none)
``X-Tulou-Front-Chunked``      the client's ``Transfer-Encoding`` (absent: none)
``X-Tulou-Front-Connection``   the client's ``Connection`` header
``X-Tulou-Front-Id``           the request id (hex), also sent to client and upstream
=============================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = b"x-tulou-front-"


@dataclass(slots=True)
class FrontRequest:
    request_line: bytes = b""
    address: str = ""
    port: int = 0
    tls: str | None = None
    cert: str | None = None  # URL-escaped PEM of the leaf
    length: str | None = None
    chunked: str | None = None
    connection: str | None = None
    request_id: str = ""
    # the client's own header fields (name lowercased, value), front fields excluded
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def parse(cls, fields: list[tuple[bytes, bytes]]) -> FrontRequest:
        """From the decision request's header fields (``name`` as sent, ``value`` stripped)."""
        front = cls()
        own: list[tuple[bytes, bytes]] = []
        for name, value in fields:
            lowered = name.lower()
            if not lowered.startswith(PREFIX):
                own.append((lowered, value))
                continue
            key = lowered[len(PREFIX) :]
            text = value.decode("utf-8", "surrogateescape")
            if key == b"request":
                front.request_line = value
            elif key == b"addr":
                front.address = text
            elif key == b"port":
                front.port = int(text) if text.isdigit() else 0
            elif key == b"tls":
                front.tls = text or None
            elif key == b"cert":
                front.cert = text or None
            elif key == b"length":
                front.length = text or None
            elif key == b"chunked":
                front.chunked = text or None
            elif key == b"connection":
                front.connection = text or None
            elif key == b"id":
                front.request_id = text
        front.headers = tuple(own)
        return front
