"""The pcap parser's cached timestamp formatting equals format_timestamp exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from detect.parsers import pcap
from tulou.events import format_timestamp


def _reference(seconds: float) -> str:
    try:
        return format_timestamp(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return format_timestamp(datetime.fromtimestamp(0, UTC))


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=0, max_value=2**32 - 1).map(float),
    )
)
def test_moment_equals_format_timestamp(seconds: float) -> None:
    assert pcap._moment(seconds) == _reference(seconds)


def test_seconds_sharing_a_prefix_and_rounding_into_the_next_second() -> None:
    for seconds in (1_772_352_000.0, 1_772_352_000.0015, 1_772_352_000.9999996, 1.9999999):
        assert pcap._moment(seconds) == _reference(seconds)
    assert pcap._moment(1_772_352_000.9999996).startswith("2026-03-01T08:00:01.000")


def test_the_cache_stays_bounded() -> None:
    for second in range(pcap._SECONDS_MAX + 10):
        pcap._moment(float(second))
    assert len(pcap._SECONDS) <= pcap._SECONDS_MAX
