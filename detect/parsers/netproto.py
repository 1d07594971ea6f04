"""Application-layer decoders for captures: DNS messages, HTTP/1 heads, TLS ClientHello.

Each function takes a payload and returns ECS fields, ``None`` when the payload is not that
protocol at all, or raises ``ValueError`` (or ``IndexError``/``struct.error``) when it claims
to be but is malformed -- the caller dead-letters those.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Any

from detect.parsers.capture import ip_text

QTYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 41: "OPT", 43: "DS", 46: "RRSIG", 48: "DNSKEY", 64: "SVCB", 65: "HTTPS", 255: "ANY",
}  # fmt: skip
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_DNS_HEADER = struct.Struct("!HHHHHH")
MAX_ANSWERS = 64


def _name(message: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) domain name at ``offset``; returns it and the offset after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            jumps += 1
            if jumps > 32:
                raise ValueError("DNS name compression loop")
            continue
        if length & 0xC0:
            raise ValueError("DNS label with reserved bits")
        offset += 1
        if length == 0:
            break
        label = message[offset : offset + length]
        if len(label) < length:
            raise ValueError("DNS label runs past the message")
        labels.append(label.decode("ascii", errors="backslashreplace"))
        offset += length
        if len(labels) > 127:
            raise ValueError("DNS name too long")
    return ".".join(labels), (end if end >= 0 else offset)


def dns_fields(message: bytes) -> dict[str, Any]:
    """ECS ``dns.*`` of one DNS message (query or response)."""
    ident, flags, qdcount, ancount, _, _ = _DNS_HEADER.unpack_from(message)
    if flags & 0x7800 > 0x1000 or qdcount > 16:  # opcode > 2 or absurd question count
        raise ValueError("not a plausible DNS message")
    response = bool(flags & 0x8000)
    fields: dict[str, Any] = {
        "dns.id": ident,
        "dns.type": "answer" if response else "query",
        "dns.op_code": {0: "QUERY", 1: "IQUERY", 2: "STATUS"}.get((flags >> 11) & 0xF),
    }
    header_flags = [
        name
        for bit, name in ((0x400, "AA"), (0x200, "TC"), (0x100, "RD"), (0x80, "RA"))
        if flags & bit
    ]
    if header_flags:
        fields["dns.header_flags"] = header_flags
    offset = 12
    for index in range(qdcount):
        name, offset = _name(message, offset)
        qtype, qclass = struct.unpack_from("!HH", message, offset)
        offset += 4
        if index == 0:
            fields["dns.question.name"] = name
            fields["dns.question.type"] = QTYPES.get(qtype, str(qtype))
            fields["dns.question.class"] = "IN" if qclass == 1 else str(qclass)
            parts = name.rsplit(".", 2)
            if len(parts) >= 2:
                fields["dns.question.registered_domain"] = ".".join(parts[-2:])
                fields["dns.question.top_level_domain"] = parts[-1]
                if len(parts) == 3:
                    fields["dns.question.subdomain"] = parts[0]
    if response:
        fields["dns.response_code"] = RCODES.get(flags & 0xF, str(flags & 0xF))
        data: list[str] = []
        types: list[str] = []
        names: list[str] = []
        resolved: list[str] = []
        for _ in range(min(ancount, MAX_ANSWERS)):
            name, offset = _name(message, offset)
            rtype, _, _, rdlength = struct.unpack_from("!HHIH", message, offset)
            offset += 10
            rdata = message[offset : offset + rdlength]
            if len(rdata) < rdlength:
                raise ValueError("DNS answer runs past the message")
            if rtype in (1, 28) and rdlength in (4, 16):
                value = ip_text(rdata)
                resolved.append(value)
            elif rtype in (2, 5, 12):
                value = _name(message, offset)[0]
            else:
                value = rdata.hex()
            offset += rdlength
            data.append(value)
            types.append(QTYPES.get(rtype, str(rtype)))
            names.append(name)
        if data:
            fields["dns.answers.data"] = data
            fields["dns.answers.type"] = types
            fields["dns.answers.name"] = names
        if resolved:
            fields["dns.resolved_ip"] = resolved
    return fields


_METHODS = (
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
)
_REQUEST_LINE = re.compile(rb"([A-Z]+) (\S+) HTTP/(\d\.\d)\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/(\d\.\d) (\d{3})")


def http_request(payload: bytes) -> dict[str, Any] | None:
    """ECS fields of an HTTP/1 request head at the start of ``payload``."""
    if not payload.startswith(_METHODS):
        return None
    found = _REQUEST_LINE.match(payload)
    if found is None:
        raise ValueError("HTTP request line is malformed or cut short")
    head = payload[: payload.find(b"\r\n\r\n")] if b"\r\n\r\n" in payload else payload
    headers: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    target = found[2].decode("latin-1")
    path, _, query = target.partition("?")
    host = headers.get(b"host", b"").decode("latin-1") or None
    fields: dict[str, Any] = {
        "http.request.method": found[1].decode("ascii"),
        "http.version": found[3].decode("ascii"),
        "url.original": target,
        "url.path": path,
        "url.query": query or None,
        "url.domain": host.rsplit(":", 1)[0] if host and not host.endswith("]") else host,
        "user_agent.original": headers.get(b"user-agent", b"").decode("latin-1") or None,
        "http.request.referrer": headers.get(b"referer", b"").decode("latin-1") or None,
    }
    if b"content-length" in headers and headers[b"content-length"].isdigit():
        fields["http.request.body.bytes"] = int(headers[b"content-length"])
    return fields


def http_status(payload: bytes) -> int | None:
    found = _STATUS_LINE.match(payload)
    return int(found[2]) if found else None


def _grease(value: int) -> bool:
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


TLS_VERSIONS = {0x0300: "3.0", 0x0301: "1.0", 0x0302: "1.1", 0x0303: "1.2", 0x0304: "1.3"}


def tls_client_hello(payload: bytes) -> dict[str, Any] | None:
    """ECS ``tls.*`` of a TLS ClientHello record at the start of ``payload``.

    The fingerprint is JA3: MD5 of ``version,ciphers,extensions,groups,point_formats`` (decimal,
    ``-``-joined, GREASE values removed), computed on the first record only.
    """
    if len(payload) < 6 or payload[0] != 0x16 or payload[1] != 0x03 or payload[5] != 0x01:
        return None
    body = payload[9:]
    version = struct.unpack_from("!H", body)[0]
    offset = 2 + 32
    session_len = body[offset]
    offset += 1 + session_len
    (cipher_len,) = struct.unpack_from("!H", body, offset)
    offset += 2
    ciphers = [
        c for c in struct.unpack_from(f"!{cipher_len // 2}H", body, offset) if not _grease(c)
    ]
    offset += cipher_len
    offset += 1 + body[offset]
    extensions: list[int] = []
    groups: list[int] = []
    formats: list[int] = []
    server_name: str | None = None
    supported: list[int] = []
    alpn: list[str] = []
    if offset + 2 <= len(body):
        (ext_total,) = struct.unpack_from("!H", body, offset)
        offset += 2
        end = min(len(body), offset + ext_total)
        while offset + 4 <= end:
            ext_type, ext_len = struct.unpack_from("!HH", body, offset)
            data = body[offset + 4 : offset + 4 + ext_len]
            if len(data) < ext_len:
                raise ValueError("TLS extension runs past the record")
            offset += 4 + ext_len
            if _grease(ext_type):
                continue
            extensions.append(ext_type)
            if ext_type == 0 and len(data) >= 5 and data[2] == 0:
                name_len = struct.unpack_from("!H", data, 3)[0]
                server_name = data[5 : 5 + name_len].decode("ascii", errors="backslashreplace")
            elif ext_type == 10 and len(data) >= 2:
                count = struct.unpack_from("!H", data)[0] // 2
                groups = [g for g in struct.unpack_from(f"!{count}H", data, 2) if not _grease(g)]
            elif ext_type == 11 and data:
                formats = list(data[1 : 1 + data[0]])
            elif ext_type == 43 and data:
                count = data[0] // 2
                supported = [v for v in struct.unpack_from(f"!{count}H", data, 1) if not _grease(v)]
            elif ext_type == 16 and len(data) >= 2:
                pos = 2
                while pos < len(data):
                    size = data[pos]
                    alpn.append(data[pos + 1 : pos + 1 + size].decode("ascii", errors="replace"))
                    pos += 1 + size
    ja3_string = ",".join(
        [
            str(version),
            *("-".join(str(v) for v in part) for part in (ciphers, extensions, groups, formats)),
        ]
    )
    best = max(supported) if supported else version
    return {
        "tls.version_protocol": "tls",
        "tls.version": TLS_VERSIONS.get(best, f"0x{best:04x}"),
        "tls.client.server_name": server_name,
        "tls.client.ja3": hashlib.md5(ja3_string.encode(), usedforsecurity=False).hexdigest(),
        "tls.client.ja3_string": ja3_string,
        "tls.client.supported_ciphers": [f"0x{c:04x}" for c in ciphers],
        "tls.client.supported_versions": [TLS_VERSIONS.get(v, f"0x{v:04x}") for v in supported]
        or None,
        "tls.client.alpn": alpn or None,
    }
