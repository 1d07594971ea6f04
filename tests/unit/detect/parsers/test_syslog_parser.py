# ruff: noqa: E501 - real log lines are longer than code lines
from __future__ import annotations

import pytest

from detect.parsers.syslog import SyslogParser
from detect.parsers.syslog_time import LocalClock
from tests.unit.detect.parsers.helpers import check, run


def test_rfc5424_with_structured_data() -> None:
    line = (
        "<165>1 2026-03-01T08:15:30.123+08:00 gw1.city.gov tulou-gw 4321 ID47 "
        '[exampleSDID@32473 iut="3" eventSource="Application"] \ufeffAccess denied for bob\n'
    )
    (event,), rejected = run(SyslogParser(), line.encode())
    assert rejected == []
    check(
        event,
        {
            "@timestamp": "2026-03-01T00:15:30.123Z",
            "event.dataset": "syslog",
            "event.kind": "event",
            "event.original": line.rstrip("\n"),
            "host.hostname": "gw1.city.gov",
            "process.name": "tulou-gw",
            "process.pid": 4321,
            "log.syslog.priority": 165,
            "log.syslog.facility.code": 20,
            "log.syslog.facility.name": "local4",
            "log.syslog.severity.code": 5,
            "log.syslog.severity.name": "notice",
            "log.syslog.version": "1",
            "log.syslog.msgid": "ID47",
            "log.syslog.structured_data.exampleSDID@32473": {
                "iut": "3",
                "eventSource": "Application",
            },
            "message": "Access denied for bob",
            "log.offset": 0,
        },
    )


def test_rfc3164_with_and_without_priority() -> None:
    data = (
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8\n"
        b"Mar  3 10:00:01 web1 CRON[999]: (root) CMD (run-parts /etc/cron.hourly)\n"
    )
    first, second = run(SyslogParser(clock=LocalClock(zone="UTC", year=2026)), data)[0]
    check(
        first,
        {
            "@timestamp": "2026-10-11T22:14:15.000Z",
            "log.syslog.facility.name": "auth",
            "log.syslog.severity.name": "critical",
            "host.hostname": "mymachine",
            "process.name": "su",
            "message": "'su root' failed for lonvick on /dev/pts/8",
        },
    )
    check(
        second,
        {
            "@timestamp": "2026-03-03T10:00:01.000Z",
            "process.name": "CRON",
            "process.pid": 999,
            "log.offset": len(data.split(b"\n")[0]) + 1,
        },
    )
    assert "log.syslog.priority" not in second


def test_iso_stamped_file_lines() -> None:
    line = b"2026-05-01T12:00:00.250000+00:00 db2 postgres[77]: checkpoint complete\n"
    (event,), _ = run(SyslogParser(), line)
    check(event, {"@timestamp": "2026-05-01T12:00:00.250Z", "host.name": "db2", "process.pid": 77})


def test_bad_lines_are_rejected_with_position() -> None:
    data = b"Mar  3 10:00:01 web1 app: ok\nnot syslog at all\n<999>1 - - - - - -\n"
    events, rejected = run(SyslogParser(clock=LocalClock(zone="UTC", year=2026)), data)
    assert len(events) == 1
    assert [r.position for r in rejected] == [29, 47]
    assert rejected[0].original == b"not syslog at all\n"
    assert "priority" in rejected[1].reason


def test_ids_are_deterministic_and_distinct() -> None:
    data = b"Mar  3 10:00:01 web1 app: same\nMar  3 10:00:01 web1 app: same\n"
    a = run(SyslogParser(year=2026), data)[0]
    b = run(SyslogParser(year=2026), data)[0]
    assert [e["event.id"] for e in a] == [e["event.id"] for e in b]
    assert a[0]["event.id"] != a[1]["event.id"]


UTC_2026 = LocalClock(zone="UTC", year=2026)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # macOS: program names with blanks when a pid follows, a (subsystem) after the pid.
        (
            "Jul  1 09:33:49 authorMacBook-Pro Google Chrome Helper[32306]: Couldn't set selectedTextBackgroundColor",
            {
                "host.name": "authorMacBook-Pro",
                "process.name": "Google Chrome Helper",
                "process.pid": 32306,
            },
        ),
        (
            "Jul  1 09:04:37 authorMacBook-Pro com.apple.xpc.launchd[1] (com.apple.preference.displays.MirrorDisplays): Service only ran for 0 seconds.",
            {
                "process.name": "com.apple.xpc.launchd",
                "process.pid": 1,
                "log.logger": "com.apple.preference.displays.MirrorDisplays",
                "message": "Service only ran for 0 seconds.",
            },
        ),
        (
            "Jul  1 09:21:02 calvisitor-10-105-160-95 --- last message repeated 1 time ---",
            {"host.name": "calvisitor-10-105-160-95", "log.syslog.repeated": 1},
        ),
        # Parentheses in the tag (RHEL 4's PAM lines).
        (
            "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown",
            {"process.name": "sshd(pam_unix)", "process.pid": 19939},
        ),
        # No host: BSD and macOS local files.
        (
            "Nov 23 21:50:19 sshd[8148]: Connection closed by 192.0.2.1 [preauth]",
            {
                "host.name": None,
                "process.name": "sshd",
                "message": "Connection closed by 192.0.2.1 [preauth]",
            },
        ),
        (
            "Nov 23 21:50:37 sshd: Connection closed by 192.0.2.1",
            {"host.name": None, "process.name": "sshd"},
        ),
        # RFC 5424 with an unescaped "]" inside a quoted parameter value (rsyslog writes it).
        (
            '<38>1 2019-07-08T17:40:17.954167-04:00 h.example.com sshd 55555 - [timeQuality tzKnown="1"][x@123 test="[brackets]"] Failed password',
            {
                "log.syslog.structured_data.x@123": {"test": "[brackets]"},
                "log.syslog.structured_data.timeQuality": {"tzKnown": "1"},
                "message": "Failed password",
            },
        ),
    ],
    ids=lambda v: str(v)[:30],
)
def test_real_header_shapes(line: str, expected: dict[str, object]) -> None:
    (event,), rejected = run(SyslogParser(clock=UTC_2026), (line + "\n").encode())
    assert rejected == []
    check(event, expected)


def test_a_blank_in_a_tag_needs_a_pid() -> None:
    # Without "[pid]" "web1 some text: more" is not a host and a program "some text".
    events, rejected = run(SyslogParser(clock=UTC_2026), b"Mar  3 10:00:01 web1 some text: more\n")
    assert events == []
    assert len(rejected) == 1


def test_time_zone_and_year_of_the_source() -> None:
    line = b"Mar  3 10:00:01 web1 CRON[999]: (root) CMD (run-parts /etc/cron.hourly)\n"
    (shanghai,), _ = run(SyslogParser(year=2026), line)
    assert shanghai["@timestamp"] == "2026-03-03T02:00:01.000Z"  # the default zone, UTC+8
    (tokyo,), _ = run(SyslogParser(clock=LocalClock(zone="Asia/Tokyo", year=2025)), line)
    assert tokyo["@timestamp"] == "2025-03-03T01:00:01.000Z"


def test_feb_29_of_a_common_year_is_dead_lettered_with_the_reason() -> None:
    data = b"Feb 29 10:00:01 web1 app: leap\nFeb 28 10:00:01 web1 app: fine\n"
    events, rejected = run(SyslogParser(year=2026), data)
    assert [e["message"] for e in events] == ["fine"]
    assert "not a leap year" in rejected[0].reason
    events, rejected = run(SyslogParser(year=2028), data)
    assert len(events) == 2
    assert rejected == []
