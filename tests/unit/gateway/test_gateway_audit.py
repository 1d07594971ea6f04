"""Audit events: the ECS keys detect relies on, no secrets, one JSON line each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.audit import AuditLog, decision_event, encode_line


def test_event_shape_and_file(tmp_path: Path) -> None:
    event = decision_event(
        moment=datetime(2025, 6, 4, 2, 0, tzinfo=UTC),
        allowed=False,
        rule_id="no-admin",
        reason="denied",
        status=403,
        duration_ns=1500,
        method="GET",
        host="hr.city.test",
        path="/admin",
        source_ip="10.0.0.1",
        subject="alice",
        token_id="j1",
        token_checked=True,
        device_fingerprint="ab",
        posture={"fresh": True},
        event_id="e1",
    )
    assert event["@timestamp"] == "2025-06-04T02:00:00.000Z"
    assert event["event.outcome"] == "failure" and event["event.type"] == ["access", "denied"]
    assert "authentication" in event["event.category"]
    assert event["tls.client.hash.sha256"] == "AB"
    assert event["tulou.device.posture.fresh"] is True
    assert "user_agent.original" not in event  # absent values are omitted
    log = AuditLog(tmp_path / "a" / "audit.jsonl")
    log.write(event)
    log.write(event)
    log.close()
    lines = (tmp_path / "a" / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["rule.id"] == "no-admin"


def test_timestamps_match_format_timestamp() -> None:
    from datetime import timedelta, timezone

    from gateway.audit import timestamp
    from tulou.events import format_timestamp

    start = datetime(2025, 12, 31, 23, 59, 58, 999_999, tzinfo=UTC)
    moments = [start + timedelta(microseconds=step * 250_001) for step in range(12)]
    moments += [start.astimezone(timezone(timedelta(hours=8))), start.replace(tzinfo=None)]
    for moment in moments:
        assert timestamp(moment) == format_timestamp(moment)


def test_lines_are_json_dumps_compact(tmp_path: Path) -> None:
    event = {"a": '\u00e9\n"', "b": [1, True, None], "c": datetime(2025, 1, 1, tzinfo=UTC)}
    log = AuditLog(tmp_path / "audit.jsonl")
    log.write(event)
    log.close()
    expected = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
    assert (tmp_path / "audit.jsonl").read_text(encoding="utf-8") == expected + "\n"


# Values an audit event holds: strings (any code point but lone surrogates), 64-bit integers,
# booleans, None, and lists of those.
_SCALARS = (
    st.text(alphabet=st.characters(codec="utf-8"))  # no lone surrogates
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.booleans()
    | st.none()
)
_EVENTS = st.dictionaries(st.text(max_size=20), _SCALARS | st.lists(_SCALARS, max_size=4))


@given(_EVENTS)
def test_encode_line_is_the_json_dumps_line(event: dict[str, Any]) -> None:
    expected = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
    assert encode_line(event) == (expected + "\n").encode("utf-8")


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@given(st.text(alphabet=SURROGATES | st.characters(codec="utf-8"), min_size=1))
def test_lines_orjson_refuses_are_written_ascii_escaped(text: str) -> None:
    event = {"url.path": text, "big": 2**70}  # lone surrogates: undecodable raw path bytes
    line = encode_line(event)
    assert line == (json.dumps(event, separators=(",", ":")) + "\n").encode("ascii")
    assert line.count(b"\n") == 1 and json.loads(line)["big"] == 2**70


def test_a_line_is_in_the_file_when_write_returns(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    try:
        log.write({"n": 1, "url.path": "/a\udcff"})  # the fallback path writes at once too
        assert path.read_bytes().count(b"\n") == 1  # no close, no flush: already in the file
        log.write({"n": 2})
        assert [json.loads(x)["n"] for x in path.read_bytes().splitlines()] == [1, 2]
    finally:
        log.close()
    reopened = AuditLog(path)  # appends, never truncates
    reopened.write({"n": 3})
    reopened.close()
    assert len(path.read_bytes().splitlines()) == 3 and reopened.written == 1


@given(st.lists(st.datetimes(timezones=st.just(UTC)), min_size=1, max_size=20))
def test_cached_timestamps_equal_format_timestamp_in_any_order(moments: list[datetime]) -> None:
    from gateway.audit import timestamp
    from tulou.events import format_timestamp

    for moment in moments:  # jumps back and forth across seconds, years and the cache
        assert timestamp(moment) == format_timestamp(moment)


def reference_event(**fields: Any) -> dict[str, Any]:
    """decision_event as first written (optional keys filtered from one dict): the format."""
    event = decision_event(**{**fields, "source_port": None, "route_id": None, "subject": None})
    for key in ("source.port", "service.target.name", "user.name", "user.id"):
        event.pop(key, None)
    base = {k: v for k, v in event.items() if not k.startswith(_OPTIONAL_PREFIXES)}
    fingerprint = fields.get("device_fingerprint")
    optional = {
        "source.port": fields.get("source_port"),
        "service.target.name": fields.get("route_id"),
        "user.name": fields.get("subject"),
        "user.id": fields.get("subject"),
        "tulou.token.issuer": fields.get("issuer"),
        "tulou.token.id": fields.get("token_id"),
        "tls.client.hash.sha256": fingerprint.upper() if fingerprint else None,
        "host.id": fields.get("device_id"),
        "destination.address": fields.get("upstream"),
        "user_agent.original": fields.get("user_agent"),
        "tls.version": fields.get("tls_version"),
        "http.version": fields.get("http_version"),
    }
    base.update({k: v for k, v in optional.items() if v is not None})
    posture = fields.get("posture")
    if posture is not None:
        base.update({f"tulou.device.posture.{k}": v for k, v in posture.items()})
    return base


_OPTIONAL_PREFIXES = (
    "source.port",
    "service.",
    "user",
    "tulou.",
    "tls.",
    "host.",
    "destination.",
    "http.version",
)
_MAYBE = st.none() | st.text(max_size=8)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "source_port": st.none() | st.integers(0, 65535),
            "route_id": _MAYBE,
            "subject": _MAYBE,
            "issuer": _MAYBE,
            "token_id": _MAYBE,
            "device_fingerprint": _MAYBE,
            "device_id": _MAYBE,
            "upstream": _MAYBE,
            "user_agent": _MAYBE,
            "tls_version": _MAYBE,
            "http_version": _MAYBE,
            "token_checked": st.booleans(),
            "posture": st.none()
            | st.fixed_dictionaries(
                {"enrolled": st.booleans(), "os_patch_level": _MAYBE, "fresh": st.booleans()}
            ),
        },
    ),
    st.booleans(),
)
def test_decision_event_keys_values_and_order(optional: dict[str, Any], allowed: bool) -> None:
    fields: dict[str, Any] = {
        "moment": datetime(2025, 6, 4, 2, 0, tzinfo=UTC),
        "allowed": allowed,
        "rule_id": "r",
        "reason": "why",
        "status": 200,
        "duration_ns": 5,
        "method": "GET",
        "host": "h",
        "path": "/",
        "source_ip": "192.0.2.1",
        "event_id": "e",
        **optional,
    }
    ours, reference = decision_event(**fields), reference_event(**fields)
    assert list(ours.items()) == list(reference.items())
