"""The crypto service's real audit writer against the real detect parser."""

from __future__ import annotations

import json
from pathlib import Path

from crypto.service.audit import AuditLog, JsonLinesAuditSink
from detect.parsers import default_registry
from detect.parsers.cryptoaudit import CryptoAuditParser
from tests.unit.detect.parsers.helpers import run


def test_service_audit_lines_parse_with_their_fields(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(JsonLinesAuditSink(path))
    log.record(
        "decrypt",
        outcome="failure",
        caller="service:tax-app",
        code="wrong-tenant",
        reason="the ciphertext belongs to hr/records/a",
        fields={
            "tulou.key.path": "tax/records/b",
            "tulou.tenant": "tax",
            "source.ip": "10.1.2.3",
            "tulou.rule": None,
        },
    )
    log.record(
        "sign",
        outcome="success",
        caller="user:alice",
        fields={"tulou.key.id": "hr/records/s@v2", "tulou.key.version": 2, "user.roles": ["clerk"]},
    )
    data = path.read_bytes()
    assert default_registry().detect(data).id == "crypto.audit"
    events, rejected = run(
        CryptoAuditParser(), data + b'{"@timestamp": "2026-01-01T00:00:00Z", "x": 1}\n'
    )
    assert len(events) == 2 and len(rejected) == 1 and "tulou-crypto" in rejected[0].reason
    first, second = events
    assert first["event.dataset"] == "crypto.audit" and first["event.module"] == "crypto"
    assert (first["user.name"], first["error.code"], first["event.outcome"]) == (
        "service:tax-app",
        "wrong-tenant",
        "failure",
    )
    assert first["tulou.key.path"] == "tax/records/b" and first["source.ip"] == "10.1.2.3"
    assert "tulou.rule" not in first  # None fields are not written
    assert second["tulou.key.version"] == 2 and second["user.roles"] == ["clerk"]
    assert json.loads(first["event.original"])["event.dataset"] == "crypto.service"
