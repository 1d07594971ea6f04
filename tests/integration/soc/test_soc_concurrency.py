"""Concurrent analysts on one alert: exactly one change wins, the others get a conflict, and the
audit chain stays a single unbroken line. Real threads, real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from soc import audit, triage
from soc.auth import Principal
from soc.errors import ConflictError
from soc.models import AuditRecord

WORKERS = 8


def _race(soc, action):
    barrier = threading.Barrier(WORKERS)

    def run(i):
        barrier.wait()
        try:
            with soc.db.write() as session:
                action(session, i)
            return "ok"
        except ConflictError:
            return "conflict"

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(run, range(WORKERS)))


def test_same_version_updates_one_wins(soc):
    alert_id = soc.new_alert()
    analyst = Principal(2, "ana", "analyst", "token")

    def assign(session, i):
        triage.assign(
            session, sm3, analyst, alert_id, assignee="bob" if i % 2 else "ana", expected_version=1
        )

    outcomes = _race(soc, assign)
    assert outcomes.count("ok") == 1 and outcomes.count("conflict") == WORKERS - 1
    with soc.db.read() as session:
        alert = triage.get(session, alert_id)
        assert alert.version == 2
        records = session.query(AuditRecord).filter_by(action="alert.assign").all()
        assert len(records) == 1
        assert audit.verify(session, sm3).ok


def test_concurrent_actions_on_different_alerts_all_land_in_one_chain(soc):
    ids = [soc.new_alert() for _ in range(WORKERS)]
    analyst = Principal(2, "ana", "analyst", "token")

    def move(session, i):
        triage.transition(
            session, sm3, analyst, ids[i], status="acknowledged", reason=None, expected_version=1
        )

    assert _race(soc, move) == ["ok"] * WORKERS
    with soc.db.read() as session:
        verdict = audit.verify(session, sm3)
        assert verdict.ok, verdict.problems
        assert verdict.checked == WORKERS


def test_two_analysts_over_http(soc):
    alert_id = soc.new_alert()
    clients = [TestClient(soc.app) for _ in range(2)]
    barrier = threading.Barrier(2)

    def act(i):
        barrier.wait()
        return (
            clients[i]
            .post(
                f"/api/v1/alerts/{alert_id}/transition",
                headers=soc.headers("ana" if i else "bob", **{"If-Match": '"1"'}),
                json={"status": "acknowledged"},
            )
            .status_code
        )

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(act, range(2)))
    for client in clients:
        client.close()
    assert statuses == [200, 412]
