"""Web server access logs: the NCSA common and combined formats (nginx and Apache defaults)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from detect.model import Source, new_event
from detect.parsers.base import LineParser, match
from tulou.errors import InputError
from tulou.events import Event

_ACCESS = re.compile(
    r"(?P<client>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<ts>[^\]]+)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?\s*$'
)
_REQUEST = re.compile(r"(?P<method>[A-Za-z]+) (?P<target>\S+)(?: HTTP/(?P<version>[\d.]+))?$")


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def client_fields(client: str) -> dict[str, Any]:
    try:
        return {"source.ip": str(ipaddress.ip_address(client))}
    except ValueError:
        return {"source.address": client, "source.domain": client}


def url_fields(target: str) -> dict[str, Any]:
    """``url.*`` for a request target (origin form or absolute form)."""
    parts = urlsplit(target)
    fields: dict[str, Any] = {
        "url.original": target,
        "url.path": parts.path or None,
        "url.query": parts.query or None,
        "url.fragment": parts.fragment or None,
    }
    if parts.scheme:
        fields["url.scheme"] = parts.scheme
        fields["url.domain"] = parts.hostname
    return fields


class WebAccessParser(LineParser):
    """nginx/Apache ``combined`` and ``common`` lines to ECS web access events."""

    id: ClassVar[str] = "web"
    description: ClassVar[str] = "nginx/Apache access logs (combined and common)"

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        found = match(_ACCESS, line, "web access log")
        try:
            moment = datetime.strptime(found["ts"], "%d/%b/%Y:%H:%M:%S %z")
        except ValueError as exc:
            raise InputError(f"bad access-log timestamp {found['ts']!r}") from exc
        status = int(found["status"])
        fields: dict[str, Any] = {
            "event.kind": "event",
            "event.category": ["web"],
            "event.type": ["access"],
            "event.outcome": "success" if status < 400 else "failure",
            **client_fields(found["client"]),
            "user.name": None if found["user"] == "-" else found["user"],
            "http.response.status_code": status,
            "http.response.body.bytes": None if found["bytes"] == "-" else int(found["bytes"]),
        }
        request = _unescape(found["request"])
        parsed = _REQUEST.match(request)
        if parsed is not None:
            fields["http.request.method"] = parsed["method"].upper()
            fields["http.version"] = parsed["version"]
            fields.update(url_fields(parsed["target"]))
        else:
            fields["url.original"] = request  # e.g. a TLS handshake sent to a plain port
        if found["referrer"] is not None:
            referrer = _unescape(found["referrer"])
            agent = _unescape(found["agent"])
            fields["http.request.referrer"] = None if referrer == "-" else referrer
            fields["user_agent.original"] = None if agent == "-" else agent
        if "source.ip" in fields:
            fields["related.ip"] = [fields["source.ip"]]
        return new_event(self.id, source, position, moment, line, fields)
