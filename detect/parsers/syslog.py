"""Syslog lines: RFC 5424, RFC 3164 (with or without ``<PRI>``), and ISO-stamped file lines.

The header is parsed here once and reused by the auth.log parser (:mod:`detect.parsers.auth`).
RFC 3164 timestamps carry no year or zone: the parser's :class:`LocalClock` reads them (the
source's zone, default Asia/Shanghai; its year, or one inferred per line).

Header shapes seen in real logs besides the textbook one: no host (``Nov 23 21:50:19
sshd[8148]: ...``, BSD and macOS local logs), program names with spaces when a pid follows
(``Google Chrome Helper[32306]:``, macOS), with parentheses (``sshd(pam_unix)[1]:``), a
``(subsystem)`` after the pid (``com.apple.xpc.launchd[1] (com.apple.Safari):``, kept as
``log.logger``), and macOS' ``--- last message repeated N times ---`` line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from detect.model import Source, new_event
from detect.parsers.base import LineParser
from detect.parsers.syslog_time import LocalClock
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
# An SD-ELEMENT is "[" SD-ID params "]"; a quoted PARAM-VALUE may hold "]" (RFC 5424 asks for
# "\]", but real senders do not all escape it), so quotes are skipped as a whole. Possessive:
# every alternative starts with a different character, nothing is ever given back.
_SD = r'\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*+")*+\]'
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) "
    r"(?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|(?:" + _SD + r")++)(?: (?P<msg>.*))?$",
    re.DOTALL,
)
# After the time: an optional host, then the tag. A tag is a word without blanks, ":" or "["
# (parentheses allowed), or -- only when a "[pid]" follows -- a name with blanks; then an
# optional " (subsystem)" (macOS), then ":". A line without a host starts with its tag.
_TAG = (
    r"(?:(?P<host>[^\s:\[]+) )?"
    r"(?P<tag>[^\s:\[]{1,64}|[^:\[\]]{1,64}?(?=\[\d+\]))(?:\[(?P<pid>\d+)\])?"
    r"(?: \((?P<logger>[^()]{1,256})\))?: ?(?P<msg>.*)$"
)
_RFC3164 = re.compile(
    _PRI + r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) " + _TAG,
    re.DOTALL,
)
#: macOS syslogd's line for a suppressed repeat: no tag at all.
_MAC_REPEAT = re.compile(
    _PRI + r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) "
    r"(?P<host>\S+) (?P<msg>--- last message repeated (?P<count>\d+) times? ---)$"
)
_ISO = re.compile(
    _PRI + r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) " + _TAG,
    re.DOTALL,
)
_SD_ELEMENT = re.compile(r'\[(?P<id>[^\s\]="]+)(?P<params>(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*+")*+)\]')
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


_DEFAULT_CLOCK = LocalClock()


def parse_header(line: str, clock: LocalClock = _DEFAULT_CLOCK) -> SyslogHeader:
    """Parse any supported syslog flavour; :class:`InputError` if the line is none of them.

    ``clock`` reads RFC 3164 times (zone and year); RFC 5424 and ISO stamps carry their own.
    """
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
        pri, _, host, tag, pid, logger, msg = found.groups()
    else:
        found = _RFC3164.match(line)
        if found is None:
            return _mac_repeat(line, clock)
        pri, mon, day, time, host, tag, pid, logger, msg = found.groups()  # one call, not nine
        minutes = clock.minutes
        prefix = minutes.get((mon, day, time[:5])) if minutes is not None else None
        if prefix is not None and time[6] < "6":  # a cached minute is a valid one
            stamp = f"{prefix}{time[6:8]}.000Z"
        else:
            stamp = _stamp(clock, mon, day, time)
    fields = _priority_fields(pri) if pri is not None else {}
    if logger is not None:
        fields["log.logger"] = logger
    return SyslogHeader(
        timestamp=stamp,
        host=host,
        program=tag,
        pid=int(pid) if pid else None,
        message=msg,
        fields=fields,
    )


def _stamp(clock: LocalClock, mon: str, day: str, time: str) -> str:
    month = MONTHS.get(mon)
    if month is None:
        raise InputError("not a syslog line (RFC 5424, RFC 3164 or ISO-stamped)")
    try:
        stamp = clock.stamp(month, int(day), time)
    except ValueError as exc:
        raise InputError(f"bad RFC 3164 time {day} {time}: {exc}") from exc
    minutes = clock.minutes
    if minutes is not None:
        if len(minutes) >= 1 << 16:
            minutes.clear()
        minutes[(mon, day, time[:5])] = stamp[:-7]  # "YYYY-MM-DDTHH:MM:"
    return stamp


def _mac_repeat(line: str, clock: LocalClock) -> SyslogHeader:
    found = _MAC_REPEAT.match(line)
    if found is None:
        raise InputError("not a syslog line (RFC 5424, RFC 3164 or ISO-stamped)")
    fields = _priority_fields(found["pri"])
    fields["log.syslog.repeated"] = int(found["count"])
    return SyslogHeader(
        timestamp=_stamp(clock, found["mon"], found["day"], found["time"]),
        host=found["host"],
        program=None,
        pid=None,
        message=found["msg"],
        fields=fields,
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

    def __init__(self, year: int | None = None, clock: LocalClock | None = None) -> None:
        """``clock`` reads RFC 3164 times (default: the city's zone, the year inferred);
        ``year`` is a shorthand for a clock in the default zone with that year."""
        self.clock = clock if clock is not None else LocalClock(year=year)

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        header = parse_header(line, self.clock)
        fields = header_fields(header)
        fields["event.kind"] = "event"
        return new_event(self.id, source, position, header.timestamp, line, fields)
