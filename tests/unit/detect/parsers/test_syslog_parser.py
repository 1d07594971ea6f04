from __future__ import annotations

import pytest

from detect.parsers.syslog import SyslogParser
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
    first, second = run(SyslogParser(year=2026), data)[0]
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
    events, rejected = run(SyslogParser(year=2026), data)
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


def test_rfc3164_stamps_in_a_known_year_match_the_datetime_formatting() -> None:
    from datetime import UTC, datetime

    from detect.parsers.syslog import _stamp_3164
    from tulou.events import format_timestamp

    for month, day, clock in [(1, 1, "00:00:00"), (2, 28, "23:59:59"), (12, 31, "09:05:07")]:
        h, m, s = map(int, clock.split(":"))
        expected = format_timestamp(datetime(2026, month, day, h, m, s, tzinfo=UTC))
        assert _stamp_3164(month, day, clock, 2026) == expected
    for month, day, clock in [(2, 29, "10:00:00"), (3, 1, "24:00:00"), (3, 1, "10:60:00")]:
        with pytest.raises(ValueError, match=r"must be in|out of range"):
            _stamp_3164(month, day, clock, 2026)
    with pytest.raises(ValueError, match="second must be in"):
        _stamp_3164(3, 1, "10:00:60", 2026)
