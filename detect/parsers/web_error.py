"""Web server error logs: Apache httpd (2.2 and 2.4 ``ErrorLogFormat`` default) and nginx.

Apache 2.4 (one line; ``[client IP:PORT]``, an IPv6 address with its port after the last
colon)::

    [Wed Oct 11 14:32:52.123456 2026] [core:error] [pid 35708:tid 4328636416]
    [client 192.0.2.7:52342] AH00037: Symbolic link not allowed: /srv/www/x, referer: http://a/

Apache 2.2: ``[Wed Oct 11 14:32:52 2026] [error] [client 192.0.2.7] File does not exist: /x``.

nginx (one line)::

    2026/10/11 14:32:52 [error] 1234#5678: *42 open() "/srv/x" failed (2: No such file or
    directory), client: 192.0.2.7, server: a.gov, request: "GET /x HTTP/1.1", host: "a.gov"

Both write the server's local time without a zone: the source's :class:`LocalClock` zone
applies (default Asia/Shanghai); the year is in the line. Fields as Filebeat's apache/nginx
error modules name them (docs/detect.md): ``log.level``, ``message``, ``process.pid``,
``process.thread.id``, ``source.ip``/``source.port``/``source.address``, ``error.code``
(Apache's ``AH`` number), ``apache.error.module``, ``nginx.error.connection_id``, and from
nginx's trailer ``http.request.method``, ``url.*``, ``url.domain`` (``host:``),
``http.request.referrer``, ``destination.domain`` (``server:``).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from detect.model import Source, new_event
from detect.parsers.base import LineParser
from detect.parsers.syslog import MONTHS
from detect.parsers.syslog_time import LocalClock
from detect.parsers.web import client_fields, url_fields
from tulou.errors import InputError
from tulou.events import Event

_APACHE = re.compile(
    r"\[(?:[A-Z][a-z]{2}) (?P<mon>[A-Z][a-z]{2}) (?P<day>\d\d) (?P<time>\d\d:\d\d:\d\d)"
    r"(?:\.\d+)? (?P<year>\d{4})\] \[(?:(?P<module>[\w-]*):)?(?P<level>[a-z]+\d?)\]"
    r"(?: \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\])?"
    r"(?: \[(?:client|remote) (?P<client>[^\]]+)\])?"
    r" (?:(?P<code>AH\d{5}): )?(?P<msg>.*)$"
)
_NGINX = re.compile(
    r"(?P<year>\d{4})/(?P<mon>\d\d)/(?P<day>\d\d) (?P<time>\d\d:\d\d:\d\d) "
    r"\[(?P<level>[a-z]+)\] (?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<cid>\d+) )?(?P<msg>.*)$"
)
# nginx appends ", client: A, server: S, request: "R", upstream: "U", host: "H", referrer: "F""
# to the message: the client key starts it.
_NGINX_TRAILER = re.compile(r", client: (?P<rest>.*)$")
_NGINX_PAIR = re.compile(
    r'(?:^|, )(?P<key>[a-z_]+): (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^,]*))'
)
_APACHE_REFERER = re.compile(r", referer: (?P<referer>\S*)$")
_REQUEST = re.compile(r"(?P<method>[A-Z]+) (?P<target>\S+)(?: HTTP/(?P<version>[\d.]+))?$")
_LEVELS = {"warn": "warning", "crit": "critical", "emerg": "emergency", "err": "error"}


def _client(text: str, with_port: bool = False) -> dict[str, Any]:
    """``192.0.2.7:52342``, ``2001:db8::1:52342`` (``with_port``: Apache 2.4 always writes
    one), ``[2001:db8::1]:52342``, or a bare address or name."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1 or (with_port and ":" in text):
        host, _, port = text.rpartition(":")
    fields = client_fields(host)
    if port and port.isdigit():
        fields["source.port"] = int(port)
    return fields


class WebErrorParser(LineParser):
    """Apache httpd and nginx error log lines to ECS web error events."""

    id: ClassVar[str] = "web.error"
    description: ClassVar[str] = "Apache httpd and nginx error logs"

    def __init__(self, clock: LocalClock | None = None) -> None:
        self.clock = clock if clock is not None else LocalClock()

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        first = line[:1]
        found = _APACHE.match(line) if first == "[" else None
        if found is not None:
            month = MONTHS.get(found["mon"])
            fields = self._apache(found)
        else:
            found = _NGINX.match(line) if first.isdigit() else None
            if found is None:
                raise InputError("not an Apache or nginx error log line")
            month = int(found["mon"])
            fields = self._nginx(found)
        if month is None:
            raise InputError(f"bad month {found['mon']!r}")
        try:
            stamp = self.clock.convert(int(found["year"]), month, int(found["day"]), found["time"])
        except ValueError as exc:
            raise InputError(f"bad error-log time: {exc}") from exc
        level = found["level"]
        fields.update(
            {
                "event.kind": "event",
                "event.category": ["web"],
                "event.type": ["error"],
                "log.level": _LEVELS.get(level, level),
                "process.pid": int(found["pid"]) if found["pid"] else None,
                "process.thread.id": int(found["tid"]) if found["tid"] else None,
            }
        )
        if fields.get("source.ip"):
            fields["related.ip"] = [fields["source.ip"]]
        return new_event(self.id, source, position, stamp, line, fields)

    @staticmethod
    def _apache(found: re.Match[str]) -> dict[str, Any]:
        message = found["msg"]
        fields: dict[str, Any] = {
            "event.module": "apache",
            "apache.error.module": found["module"],
            "error.code": found["code"],
        }
        referer = _APACHE_REFERER.search(message)
        if referer is not None:
            fields["http.request.referrer"] = referer["referer"]
            message = message[: referer.start()]
        fields["message"] = message
        if found["client"]:
            fields.update(_client(found["client"], with_port=found["pid"] is not None))
        return fields

    @staticmethod
    def _nginx(found: re.Match[str]) -> dict[str, Any]:
        message = found["msg"]
        fields: dict[str, Any] = {
            "event.module": "nginx",
            "nginx.error.connection_id": int(found["cid"]) if found["cid"] else None,
        }
        trailer = _NGINX_TRAILER.search(message)
        if trailer is not None:
            message = message[: trailer.start()]
            pairs: dict[str, str] = {}
            for pair in _NGINX_PAIR.finditer("client: " + trailer["rest"]):
                value = pair["quoted"] if pair["quoted"] is not None else pair["bare"]
                pairs.setdefault(pair["key"], value)
            fields.update(_client(pairs.get("client", "")))
            fields["destination.domain"] = pairs.get("server") or None
            fields["url.domain"] = (pairs.get("host") or "").rsplit(":", 1)[0] or None
            fields["http.request.referrer"] = pairs.get("referrer") or None
            fields["nginx.error.upstream"] = pairs.get("upstream") or None
            request = _REQUEST.match(pairs.get("request", ""))
            if request is not None:
                fields["http.request.method"] = request["method"]
                fields["http.version"] = request["version"]
                fields.update({k: v for k, v in url_fields(request["target"]).items() if v})
        fields["message"] = message
        return fields
