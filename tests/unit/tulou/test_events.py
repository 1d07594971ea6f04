from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tulou.contracts.alert import Alert
from tulou.events import event_id, flatten, format_timestamp, nest, parse_timestamp


def test_timestamp_format_is_utc_z() -> None:
    moment = datetime(2026, 11, 26, 8, 0, 1, 123456, tzinfo=timezone(timedelta(hours=8)))
    assert format_timestamp(moment) == "2026-11-26T00:00:01.123Z"


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_timestamp_round_trip_to_the_millisecond(moment: datetime) -> None:
    moment = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000)
    assert parse_timestamp(format_timestamp(moment)) == moment


def test_event_id_is_deterministic_and_position_sensitive() -> None:
    assert event_id("file:/a", 10) == event_id("file:/a", 10)
    assert event_id("file:/a", 10) != event_id("file:/a", 11)
    assert event_id("file:/a", 10) != event_id("file:/b", 10)


def test_nest_and_flatten() -> None:
    flat = {"@timestamp": "t", "source.ip": "10.0.0.1", "source.port": 22, "event.kind": "event"}
    nested = nest(flat)
    assert nested["source"] == {"ip": "10.0.0.1", "port": 22}
    assert flatten(nested) == flat


names = st.text(alphabet="abcxyz", min_size=1, max_size=3)


@given(st.dictionaries(st.lists(names, min_size=1, max_size=3).map(".".join), st.integers()))
def test_flatten_nest_round_trip(flat: dict[str, int]) -> None:
    # Only key sets where no key is a prefix of another are representable as nested objects.
    keys = sorted(flat)
    if any(b.startswith(a + ".") for a in keys for b in keys):
        return
    assert flatten(nest(flat)) == flat


def test_alert_id_is_stable_and_order_free() -> None:
    common = dict(
        rule_id="r",
        rule_hash="h",
        title="t",
        level="high",
        dedup_key="k",
        first_seen="a",
        last_seen="b",
    )
    one = Alert(event_ids=("e1", "e2"), **common)  # type: ignore[arg-type]
    two = Alert(event_ids=("e2", "e1"), **common)  # type: ignore[arg-type]
    assert one.alert_id == two.alert_id
    assert Alert.from_dict(one.to_dict()) == one
