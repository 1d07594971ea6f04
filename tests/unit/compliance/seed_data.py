"""Seeded platform data for the report tests, in the formats the collectors read.

:func:`seed` builds a data directory with a gateway config + policy + audit log, Sigma rules, a
SQLite event store, a migrated SOC database (users, alerts, cases, audit chain), backup site
status and signed drill records, and the sources file that ties them together. Knobs let a test
move each clause between statuses (``apps``, ``mtls_everywhere``, ``rsa_tls``, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.sm2 import SM2PrivateKey
from detect.stores import open_store
from soc import audit
from soc.db import Database
from soc.models import Alert, Case, User
from tulou.contracts import backup_status
from tulou.contracts import drill as drill_contract
from tulou.events import event_id, format_timestamp

#: Seeded data sits in the 40 days before the test runs; PERIOD names that window.
NOW = datetime.now(UTC).replace(microsecond=0)
PERIOD_START = datetime.combine((NOW - timedelta(days=40)).date(), datetime.min.time(), UTC)
PERIOD = f"{PERIOD_START.date()}..{NOW.date()}"


@dataclass
class Seeded:
    root: Path
    sources: Path
    soc_url: str
    drill_key: SM2PrivateKey
    drill_dir: Path


_ALGORITHMS = {"cipher": "SM4-GCM", "digest": "SM3"}
DRILL_ID = "d7" * 16


def drill_body(
    *,
    started: datetime,
    rto_seconds: float,
    rpo_seconds: float,
    objectives: tuple[float, float],
    outcome: str | None = None,
) -> dict[str, object]:
    """A drill body in the shape ``backup.drill.Drill.run`` returns (the record before sealing)."""
    (rto_goal, rpo_goal) = objectives
    rto_met, rpo_met = rto_seconds <= rto_goal, rpo_seconds <= rpo_goal
    return {
        "drill_id": DRILL_ID,
        "scenario": "site-loss",
        "injected": True,
        "sites": ["site-a", "site-b"],
        "started": started.isoformat(),
        "finished": (started + timedelta(minutes=20)).isoformat(),
        "incident_time": started.isoformat(),
        "restore_point": {"snapshot": "a1" * 8, "time": started.isoformat(), "site": "site-b"},
        "phases": [{"name": "restore", "seconds": rto_seconds, "ok": True, "detail": {}}],
        "checks": [{"name": "files restored", "ok": True, "expected": True, "actual": True}],
        "rto": {
            "objective_seconds": objectives[0],
            "achieved_seconds": rto_seconds,
            "met": rto_met,
        },
        "rpo": {
            "objective_seconds": objectives[1],
            "achieved_seconds": rpo_seconds,
            "met": rpo_met,
        },
        "outcome": outcome or ("passed" if rto_met and rpo_met else "missed_objective"),
        "error": None,
    }


def _decision(
    at: datetime, route: str, host: str, *, allowed: bool, cert: bool, user: str | None
) -> dict[str, object]:
    event: dict[str, object] = {
        "@timestamp": format_timestamp(at),
        "event.action": "gateway-decision",
        "event.outcome": "success" if allowed else "failure",
        "event.dataset": "tulou.gateway",
        "rule.id": "allow-staff" if allowed else "builtin:default-deny",
        "service.target.name": route,
        "url.domain": host,
        "url.path": "/",
    }
    if cert:
        event["tls.client.hash.sha256"] = "AB" * 32
    if user:
        event["user.name"] = user
    return event


def seed(
    root: Path,
    *,
    apps: int = 3,
    mtls_everywhere: bool = True,
    rsa_tls: bool = False,
    retention_days_held: int = 200,
    reported_on_time: bool = True,
    drill_rpo_met: bool = True,
    sites_verified: int = 2,
    tamper_audit: bool = False,
) -> Seeded:
    """Write a complete, consistent data set under ``root``; see the module docstring."""
    gw = root / "gateway"
    gw.mkdir(parents=True)
    routes = [
        {"id": "permits", "host": "permits.city.example", "upstream": "http://127.0.0.1:9001"},
        {"id": "tax", "host": "tax.city.example", "upstream": "http://127.0.0.1:9002"},
        {"id": "health", "host": "*.health.city.example", "upstream": "http://127.0.0.1:9003"},
    ]
    sm2_key = SM2PrivateKey.generate()
    (gw / "assertion.pem").write_bytes(sm2_key.to_pem())
    (gw / "device-ca.pem").write_bytes(sm2_key.public_key().to_pem())
    if rsa_tls:
        tls_pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        pem = tls_pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (gw / "tls.pem").write_bytes(pem)
    else:
        (gw / "tls.pem").write_bytes(sm2_key.public_key().to_pem())
    (gw / "policy.yaml").write_text(
        yaml.safe_dump(
            {"version": 1, "rules": [{"id": "allow-staff", "effect": "allow", "groups": ["staff"]}]}
        )
    )
    config = {
        "tls": {"cert": "tls.pem", "key": "tls-key.pem"},
        "device": {"ca": "device-ca.pem"},
        "identity": {"issuers": "issuers.yaml"},
        "policy": "policy.yaml",
        "routes": routes,
        "assertion": {"key": "assertion.pem"},
        "audit": "audit.jsonl",
    }
    (gw / "gateway.yaml").write_text(yaml.safe_dump(config))
    lines = []
    start = PERIOD_START + timedelta(days=3)
    for i, (route, host) in enumerate(
        [
            ("permits", "permits.city.example"),
            ("tax", "tax.city.example"),
            ("health", "a.health.city.example"),
        ]
        * 4
    ):
        cert = mtls_everywhere or route != "tax"
        lines.append(
            _decision(
                start + timedelta(minutes=i), route, host, allowed=True, cert=cert, user="alice"
            )
        )
    lines.append(_decision(start, "tax", "tax.city.example", allowed=False, cert=False, user=None))
    lines.append(
        _decision(
            start - timedelta(days=60),
            "tax",
            "tax.city.example",
            allowed=True,
            cert=False,
            user=None,
        )
    )
    (gw / "audit.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")

    rules = root / "rules"
    rules.mkdir()
    for n, tags in enumerate(
        [
            ["attack.credential_access", "attack.t1110.001"],
            ["attack.execution", "attack.t1059"],
            ["attack.initial_access", "attack.t1566"],
        ]
    ):
        (rules / f"rule-{n}.yml").write_text(
            yaml.safe_dump(
                {
                    "title": f"Seeded rule {n}",
                    "id": f"00000000-0000-4000-8000-00000000000{n}",
                    "status": "test",
                    "level": "high",
                    "tags": tags,
                    "logsource": {"product": "linux", "service": "auth"},
                    "detection": {"sel": {"event.action": f"seed-{n}"}, "condition": "sel"},
                }
            )
        )
    (rules / "old.yml").write_text(
        yaml.safe_dump(
            {
                "title": "Deprecated",
                "id": "00000000-0000-4000-8000-0000000000ff",
                "status": "deprecated",
                "tags": ["attack.t1204"],
                "logsource": {"product": "linux"},
                "detection": {"sel": {"a": "b"}, "condition": "sel"},
            }
        )
    )

    events_db = root / "detect" / "events.db"
    store = open_store(f"sqlite:///{events_db}")
    oldest = NOW - timedelta(days=retention_days_held)
    store.write(
        [
            {
                "@timestamp": format_timestamp(oldest + timedelta(days=d)),
                "event.id": event_id("seed", d),
                "event.dataset": "seed",
                "event.original": f"line {d}",
            }
            for d in range(0, retention_days_held, 10)
        ]
    )
    store.close()

    soc_db = root / "soc" / "soc.db"
    url = f"sqlite:///{soc_db}"
    database = Database(url)
    database.upgrade()
    with database.write() as session:
        for name, role in (
            ("root", "admin"),
            ("ana", "analyst"),
            ("reg", "regulator"),
            ("det", "service"),
        ):
            session.add(
                User(username=name, role=role, password_hash=None if role == "service" else "x")
            )
        session.flush()
        t0 = PERIOD_START + timedelta(days=10)
        for i in range(4):
            session.add(
                Alert(
                    dedup_key=f"k{i}",
                    rule_id="r",
                    rule_hash="h" * 64,
                    title=f"alert {i}",
                    severity="high",
                    severity_rank=3,
                    first_seen=t0,
                    last_seen=t0,
                    created_at=t0 + timedelta(hours=i),
                    acknowledged_at=t0 + timedelta(hours=i, minutes=30),
                    resolved_at=t0 + timedelta(hours=i + 10) if i % 2 == 0 else None,
                )
            )
        detected = PERIOD_START + timedelta(days=20)
        session.add(
            Case(
                title="Credential stuffing on permits",
                category="network_attack",
                grade="较大",
                system_class="other",
                detected_at=detected,
                reported_at=detected + timedelta(hours=2 if reported_on_time else 6),
                created_by=1,
            )
        )
        session.add(
            Case(
                title="Phishing wave",
                category="malware",
                grade="一般",
                system_class="other",
                detected_at=detected + timedelta(days=1),
                reported_at=None,
                created_by=1,
            )
        )
        for n in range(3):
            audit.append(
                session,
                audit.sm3_hash(),
                actor="root",
                action="seed",
                target=f"t{n}",
                detail={"n": n},
            )
    if tamper_audit:
        with database.write() as session:
            session.execute(
                __import__("sqlalchemy").text(
                    "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"
                )
            )
    database.dispose()

    # Backup evidence through the formats' own writers (tulou/contracts); the real drill and
    # backup commands feeding the same readers are in tests/integration/contracts/.
    status = backup_status.path(root)
    for n in range(2):
        site = f"site-{'ab'[n]}"
        backup_status.record_snapshot(
            status, site, "a1" * 8, format_timestamp(NOW - timedelta(hours=3)), **_ALGORITHMS
        )
        backup_status.record_verification(
            status,
            site,
            ok=n < sites_verified,
            read_data=True,
            snapshots=1,
            problems=0 if n < sites_verified else 1,
            **_ALGORITHMS,
        )
    drills = drill_contract.directory(root)
    drill_key = SM2PrivateKey.generate()
    started = NOW - timedelta(days=5)
    record = drill_contract.seal(
        drill_body(
            started=started,
            rto_seconds=1200,
            rpo_seconds=3600 if drill_rpo_met else 172800,
            objectives=(3600, 86400),
        ),
        drill_key,
    )
    drill_contract.write(record, drills)
    (root / "drill-key.pub.pem").write_bytes(drill_key.public_key().to_pem())

    sources = {
        "system": {"name": "某市数字政府平台", "operator": "某市大数据管理局"},
        "applications": [
            {"name": "permits", "host": "permits.city.example"},
            {"name": "tax", "host": "tax.city.example"},
            {"name": "clinic", "host": "clinic.health.city.example"},
            {"name": "legacy-archive", "host": "archive.city.example"},
        ][:apps],
        "gateway": {"config": "gateway/gateway.yaml"},
        "rules": "rules",
        "events": f"sqlite:///{events_db}",
        "retention_days": 365,
        "backup": {
            "sites": str(status),
            "drills": str(drills),
            "drill_key": "drill-key.pub.pem",
        },
        "soc_db": url,
    }
    (root / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True))
    return Seeded(root, root / "sources.yaml", url, drill_key, drills)
