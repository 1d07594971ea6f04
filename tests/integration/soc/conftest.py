"""SOC integration fixtures: the real app on a real database, SQLite and PostgreSQL.

``soc_url`` is parametrised over both databases (the PostgreSQL one carries the ``postgres``
marker and uses the throwaway cluster of tests/fixtures/postgres.py). ``soc`` builds the app
with SM3 for the audit chain, an in-memory event source and a recording notifier, and one user
with an API token per role.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from soc import auth, security
from soc.app import create_app
from soc.db import Database
from soc.evidence import MemoryEventSource
from soc.models import User
from soc.notify import RecordingNotifier
from tulou.contracts.alert import Alert

PASSWORD = "correct horse battery staple"
USERS = {
    "admin": "admin",
    "ana": "analyst",
    "bob": "analyst",
    "olga": "officer",
    "reg": "regulator",
    "detect": "service",
}
ROLE_USER = {
    "admin": "admin",
    "analyst": "ana",
    "officer": "olga",
    "regulator": "reg",
    "service": "detect",
}

_HASH: list[str] = []


def password_hash() -> str:
    # One real scrypt hash for the whole run: every login still verifies it for real.
    if not _HASH:
        _HASH.append(security.hash_password(PASSWORD))
    return _HASH[0]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def soc_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'soc.db'}"
    return str(request.getfixturevalue("postgres_url"))


@dataclass
class SocEnv:
    db: Database
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    events: MemoryEventSource
    notifier: RecordingNotifier
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        user = ROLE_USER.get(who, who)
        return {"Authorization": f"Bearer {self.tokens[user]}", **extra}

    def alert(self, **overrides: Any) -> dict[str, Any]:
        n = next(self.counter)
        data: dict[str, Any] = {
            "rule_id": "ssh-brute-force",
            "rule_hash": "a" * 64,
            "title": "SSH brute force",
            "level": "high",
            "event_ids": [f"ev-{n}-1", f"ev-{n}-2"],
            "dedup_key": f"dk-{n}",
            "first_seen": f"2026-01-01T00:{n % 60:02d}:00.000Z",
            "last_seen": f"2026-01-01T01:{n % 60:02d}:00.000Z",
            "tags": ["attack.credential-access", "attack.t1110.001"],
            "description": "",
            "fields": {"source.ip": "192.0.2.7", "host.name": "web-1"},
        }
        data.update(overrides)
        return Alert.from_dict(data).to_dict()

    def ingest(self, *alerts: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/alerts/ingest", json={"alerts": list(alerts)}, headers=self.headers("service")
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def new_alert(self, **overrides: Any) -> int:
        return int(self.ingest(self.alert(**overrides))["alert_ids"][0])


def build_env(url: str) -> SocEnv:
    db = Database(url)
    db.upgrade()
    tokens: dict[str, str] = {}
    with db.write() as session:
        for name, role in USERS.items():
            session.add(
                User(
                    username=name,
                    role=role,
                    active=True,
                    password_hash=None if role == "service" else password_hash(),
                )
            )
        session.flush()
        for name in USERS:
            tokens[name] = auth.create_token(session, name, "tests")
    events = MemoryEventSource()
    notifier = RecordingNotifier()
    app = create_app(db, hash_fn=sm3, events=events, notifier=notifier, cookie_secure=False)
    return SocEnv(db, app, TestClient(app), tokens, events, notifier)


@pytest.fixture
def soc(soc_url: str) -> Iterator[SocEnv]:
    env = build_env(soc_url)
    try:
        yield env
    finally:
        env.client.close()
        env.db.dispose()


@pytest.fixture
def soc_sqlite(tmp_path: Path) -> Iterator[SocEnv]:
    """SQLite only (tests that are about the HTTP surface, not the database)."""
    env = build_env(f"sqlite:///{tmp_path / 'soc.db'}")
    try:
        yield env
    finally:
        env.client.close()
        env.db.dispose()
