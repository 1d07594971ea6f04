"""RFC 3164 times read in the source's zone, with a given or inferred year."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect.parsers.syslog_time import DEFAULT_TIMEZONE, LocalClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


def test_default_zone_is_the_citys() -> None:
    assert DEFAULT_TIMEZONE == "Asia/Shanghai"
    # China Standard Time is UTC+8 all year (no DST since 1991).
    assert LocalClock(year=2026).stamp(3, 3, "10:00:01") == "2026-03-03T02:00:01.000Z"
    assert LocalClock(year=2026).stamp(1, 1, "07:59:59") == "2025-12-31T23:59:59.000Z"
    assert LocalClock(zone="UTC", year=2026).stamp(3, 3, "10:00:01") == "2026-03-03T10:00:01.000Z"


def test_zone_with_daylight_saving_time() -> None:
    # US Eastern: DST began 2026-03-08 at 02:00 local (second Sunday of March).
    clock = LocalClock(zone="America/New_York", year=2026)
    assert clock.stamp(3, 8, "01:59:00") == "2026-03-08T06:59:00.000Z"  # EST, UTC-5
    assert clock.stamp(3, 8, "03:00:00") == "2026-03-08T07:00:00.000Z"  # EDT, UTC-4
    assert clock.stamp(7, 4, "12:00:00") == "2026-07-04T16:00:00.000Z"


def test_year_inferred_across_new_year() -> None:
    # A log last written on 2 January 2026 (Shanghai) that began in December.
    clock = LocalClock(reference=_at(SHANGHAI, 2026, 1, 2, 12, 0))
    assert clock.stamp(12, 31, "23:59:58") == "2025-12-31T15:59:58.000Z"
    assert clock.stamp(1, 1, "00:00:01") == "2025-12-31T16:00:01.000Z"  # 2026-01-01 local
    assert clock.stamp(1, 2, "12:30:00") == "2026-01-02T04:30:00.000Z"
    # Up to a day after the reference still counts as this year; further is last year's.
    assert clock.stamp(1, 3, "11:00:00").startswith("2026-01-03")
    assert clock.stamp(1, 4, "12:00:00").startswith("2025-01-04")


def test_feb_29() -> None:
    with pytest.raises(ValueError, match="2026, which is not a leap year"):
        LocalClock(year=2026).stamp(2, 29, "10:00:00")
    assert LocalClock(zone="UTC", year=2028).stamp(2, 29, "10:00:00") == (
        "2028-02-29T10:00:00.000Z"
    )
    # Inferred: the latest leap year whose Feb 29 is not after the reference.
    spring_2026 = LocalClock(zone="UTC", reference=_at(ZoneInfo("UTC"), 2026, 3, 5, 0, 0))
    assert spring_2026.stamp(2, 29, "10:00:00") == "2024-02-29T10:00:00.000Z"
    spring_2028 = LocalClock(zone="UTC", reference=_at(ZoneInfo("UTC"), 2028, 3, 1, 0, 0))
    assert spring_2028.stamp(2, 29, "10:00:00") == "2028-02-29T10:00:00.000Z"


@pytest.mark.parametrize(("month", "day", "clock"), [(2, 30, "10:00:00"), (4, 31, "00:00:00")])
def test_days_that_never_exist(month: int, day: int, clock: str) -> None:
    with pytest.raises(ValueError, match=r"exist|out of range"):
        LocalClock(reference=_at(SHANGHAI, 2026, 6, 1, 0, 0)).stamp(month, day, clock)
    with pytest.raises(ValueError, match=r"out of range|must be in"):
        LocalClock(year=2026).stamp(month, day, clock)


@pytest.mark.parametrize("clock", ["24:00:00", "10:60:00", "10:00:60"])
def test_clock_out_of_range(clock: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        LocalClock(year=2026).stamp(3, 1, clock)


def test_unknown_zone_is_refused_when_the_clock_is_made() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        LocalClock(zone="Mars/Olympus")


ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 12, 31)),
)
def test_stamp_is_the_local_time_converted_to_utc(zone: str, moment: datetime) -> None:
    # Minute prefixes are cached per (zone, year, month, day, minute); every second of every
    # minute must still give the exact conversion, through DST changes and odd offsets (+5:45,
    # Lord Howe's 30-minute DST).
    clock = LocalClock(zone=zone, year=moment.year)
    text = f"{moment:%H:%M:%S}"
    expected = moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert clock.stamp(moment.month, moment.day, text) == expected.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
