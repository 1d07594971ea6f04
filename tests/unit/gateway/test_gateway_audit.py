"""Audit events: the ECS keys detect relies on, no secrets, one JSON line each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from gateway.audit import AuditLog, decision_event


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
