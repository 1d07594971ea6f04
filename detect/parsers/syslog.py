"""Syslog lines: RFC 5424, RFC 3164 (with or without ``<PRI>``), and ISO-stamped file lines.

The header is parsed here once and reused by the auth.log parser (:mod:`detect.parsers.auth`).
RFC 3164 timestamps carry no year or zone: the parser's ``year`` is used (default: this year,
or last year if that would put the line in the future) and the time is taken as UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar

from detect.model import Source, new_event
from detect.parsers.base import LineParser
from tulou.errors import InputError
from tulou.events import Event, format_timestamp, parse_timestamp

FACILITIES = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
]
SEVERITIES = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
]
MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}

_PRI = r"(?:<(?P<pri>\d{1,3})>)?"
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) "
    r"(?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<msg>.*))?$",
    re.DOTALL,
)
_RFC3164 = re.compile(
    _PRI + r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) "
    r"(?P<host>[^\s:\[]+) (?P<tag>[^\s:\[]{1,64})(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$",
    re.DOTALL,
)
_ISO = re.compile(
    _PRI + r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<host>[^\s:\[]+) (?P<tag>[^\s:\[]{1,64})(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$",
    re.DOTALL,
)
_SD_ELEMENT = re.compile(r"\[(?P<id>[^\s\]=]+)(?P<params>(?:[^\]\\]|\\.)*)\]")
_SD_PARAM = re.compile(r' (?P<name>[^\s=\]"]+)="(?P<value>(?:[^"\\]|\\.)*)"')


@dataclass
class SyslogHeader:
    """What every syslog flavour has; ``fields`` holds the ECS ``log.syslog.*`` and host."""

    timestamp: str
    host: str | None
    program: str | None
    pid: int | None
    message: str
    fields: dict[str, Any]


def _nil(value: str | None) -> str | None:
    return None if value in (None, "-") else value


def _priority_fields(pri: str | None) -> dict[str, Any]:
    if pri is None:
        return {}
    value = int(pri)
    if value > 191:
        raise InputError(f"syslog priority {value} out of range")
    facility, severity = divmod(value, 8)
    return {
        "log.syslog.priority": value,
        "log.syslog.facility.code": facility,
        "log.syslog.facility.name": FACILITIES[facility],
        "log.syslog.severity.code": severity,
        "log.syslog.severity.name": SEVERITIES[severity],
        "log.level": SEVERITIES[severity],
    }


def _structured_data(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for element in _SD_ELEMENT.finditer(text):
        params = {
            m["name"]: re.sub(r"\\(.)", r"\1", m["value"])
            for m in _SD_PARAM.finditer(element["params"])
        }
        out[f"log.syslog.structured_data.{element['id']}"] = params
    return out


@lru_cache(maxsize=1024)
def _day_prefix(year: int, month: int, day: int) -> str:
    """``YYYY-MM-DDT`` of a valid date (``ValueError`` otherwise); cached: lines share days."""
    return format_timestamp(datetime(year, month, day, tzinfo=UTC))[:11]


def _stamp_3164(month: int, day: int, clock: str, year: int) -> str:
    """Formatted RFC 3164 time in a known year: the day's prefix and the clock as written.

    ``clock`` is ``HH:MM:SS`` (the header pattern guarantees the digits); an out-of-range
    clock takes the general path, which raises the same ``ValueError`` as before.
    """
    if clock < "24" and clock[3] < "6" and clock[6] < "6":
        return f"{_day_prefix(year, month, day)}{clock}.000Z"
    return format_timestamp(_year_for(month, day, clock, year))


def _year_for(month: int, day: int, clock: str, year: int | None) -> datetime:
    hour, minute, second = (int(part) for part in clock.split(":"))
    if year is not None:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    now = datetime.now(UTC)
    moment = datetime(now.year, month, day, hour, minute, second, tzinfo=UTC)
    if moment > now + timedelta(days=1):
        moment = moment.replace(year=now.year - 1)
    return moment


def parse_header(line: str, year: int | None = None) -> SyslogHeader:
    """Parse any supported syslog flavour; :class:`InputError` if the line is none of them."""
    found = _RFC5424.match(line) if line[:1] == "<" else None
    if found is not None:
        fields = _priority_fields(found["pri"])
        fields["log.syslog.version"] = found["version"]
        fields["log.syslog.appname"] = _nil(found["app"])
        fields["log.syslog.procid"] = _nil(found["procid"])
        fields["log.syslog.msgid"] = _nil(found["msgid"])
        if found["sd"] != "-":
            fields.update(_structured_data(found["sd"]))
        procid = _nil(found["procid"])
        message = found["msg"] or ""
        if message.startswith("\ufeff"):
            message = message[1:]  # the BOM RFC 5424 allows before a UTF-8 MSG
        stamp = _nil(found["ts"])
        return SyslogHeader(
            timestamp=format_timestamp(parse_timestamp(stamp))
            if stamp
            else format_timestamp(datetime.now(UTC)),
            host=_nil(found["host"]),
            program=_nil(found["app"]),
            pid=int(procid) if procid and procid.isdigit() else None,
            message=message,
            fields=fields,
        )
    found = _ISO.match(line) if line[:1] in "<0123456789" else None
    if found is not None:
        stamp = format_timestamp(parse_timestamp(found["ts"]))
    else:
        found = _RFC3164.match(line)
        if found is None:
            raise InputError("not a syslog line (RFC 5424, RFC 3164 or ISO-stamped)")
        pri, mon, day, clock, host, tag, pid, msg = found.groups()  # one call, not eight
        month = MONTHS.get(mon)
        if month is None:
            raise InputError("not a syslog line (RFC 5424, RFC 3164 or ISO-stamped)")
        if year is None:  # "this year" moves: not cached
            stamp = format_timestamp(_year_for(month, int(day), clock, None))
        else:
            stamp = _stamp_3164(month, int(day), clock, year)
        return SyslogHeader(
            timestamp=stamp,
            host=host,
            program=tag,
            pid=int(pid) if pid else None,
            message=msg,
            fields=_priority_fields(pri),
        )
    return SyslogHeader(
        timestamp=stamp,
        host=found["host"],
        program=found["tag"],
        pid=int(found["pid"]) if found["pid"] else None,
        message=found["msg"],
        fields=_priority_fields(found["pri"]),
    )


def header_fields(header: SyslogHeader) -> dict[str, Any]:
    """The ECS fields every syslog-framed event carries."""
    return {
        "host.hostname": header.host,
        "host.name": header.host,
        "process.name": header.program,
        "process.pid": header.pid,
        "message": header.message,
        **header.fields,
    }


class SyslogParser(LineParser):
    """RFC 5424 / RFC 3164 syslog lines to ``event.kind: event`` with ``log.syslog.*``."""

    id: ClassVar[str] = "syslog"
    description: ClassVar[str] = "syslog lines (RFC 5424, RFC 3164, ISO-stamped files)"

    def __init__(self, year: int | None = None) -> None:
        self.year = year

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        header = parse_header(line, self.year)
        fields = header_fields(header)
        fields["event.kind"] = "event"
        return new_event(self.id, source, position, header.timestamp, line, fields)
