from __future__ import annotations

import json
from datetime import UTC, datetime

from detect.parsers import default_registry
from detect.parsers.jsonl import GatewayAuditParser, JsonLinesParser
from gateway.audit import decision_event
from tests.unit.detect.parsers.helpers import check, run

GATEWAY = (
    b'{"@timestamp":"2026-03-01T08:00:00.500+08:00","event":{"module":"gateway","kind":"event",'
    b'"category":["network","iam"],"action":"access","outcome":"failure"},'
    b'"user":{"name":"bob"},"source":{"ip":"10.2.0.9"},"url":{"path":"/admin"},'
    b'"http":{"request":{"method":"GET"}},"rule":{"name":"deny-admin"},'
    b'"tls":{"client":{"hash":{"sha256":"AB12"}}},"event.duration":1200000}\n'
)


def test_gateway_audit_lines_keep_their_ecs_fields() -> None:
    (event,), rejected = run(GatewayAuditParser(), GATEWAY)
    assert rejected == []
    check(
        event,
        {
            "@timestamp": "2026-03-01T00:00:00.500Z",
            "event.dataset": "gateway.audit",
            "event.module": "gateway",
            "event.action": "access",
            "event.outcome": "failure",
            "event.category": ["network", "iam"],
            "user.name": "bob",
            "source.ip": "10.2.0.9",
            "url.path": "/admin",
            "http.request.method": "GET",
            "rule.name": "deny-admin",
            "tls.client.hash.sha256": "AB12",
            "event.duration": 1200000,
        },
    )
    assert default_registry().detect(GATEWAY).id == "gateway.audit"


def test_generic_json_lines() -> None:
    data = (
        b'{"ts": 1772352000, "level": "warn", "ctx": {"user": "x", "tags": ["a", "b"]}}\n'
        b'{"time": "2026-03-01T08:00:00Z", "nested": {"deep": {"k": 1.5}}, "list": [{"a": 1}]}\n'
        b"[1, 2]\n"
        b'{"no": "time"}\n'
        b"{broken\n"
    )
    events, rejected = run(JsonLinesParser(), data)
    first, second = events
    check(
        first,
        {
            "@timestamp": "2026-03-01T08:00:00.000Z",
            "event.dataset": "json",
            "level": "warn",
            "ctx.user": "x",
            "ctx.tags": ["a", "b"],
            "ts": 1772352000,
        },
    )
    check(second, {"nested.deep.k": 1.5, "list": '[{"a": 1}]'})
    assert [r.reason.split(":")[0] for r in rejected] == [
        "a JSON line must be an object",
        "no @timestamp, timestamp, time or ts field",
        "not JSON",
    ]


def test_input_cannot_forge_event_id() -> None:
    line = b'{"@timestamp": "2026-03-01T08:00:00Z", "event": {"id": "forged", "dataset": "x"}}\n'
    (event,), _ = run(JsonLinesParser(), line)
    assert event["event.id"] != "forged"
    assert event["event.dataset"] == "json"


def test_the_real_gateway_audit_record_is_parsed_not_dead_lettered() -> None:
    """The record gateway/audit.py writes (event.dataset tulou.gateway) is a gateway event."""
    record = decision_event(
        moment=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        allowed=False,
        rule_id="builtin:default-deny",
        reason="token revoked",
        status=403,
        duration_ns=5000,
        method="GET",
        host="hr.city.test",
        path="/api/people",
        source_ip="10.2.0.9",
        subject="bob",
    )
    data = (json.dumps(record) + "\n").encode()
    assert default_registry().detect(data).id == "gateway.audit"
    (event,), rejected = run(GatewayAuditParser(), data)
    assert rejected == []
    assert event["observer.product"] == "tulou-gateway"
    assert event["event.reason"] == "token revoked"
    assert event["user.name"] == "bob"
