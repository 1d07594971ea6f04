"""Roll-up metrics == the straight scan of ``alerts``, and the triggers keep the roll-ups exact.

Random alerts with random ATT&CK tags are written, then changed the ways the SOC (and an admin
with SQL) changes them -- status moves with acknowledge/resolve times, grouping (count + 1),
a moved creation time, a new title, deletion -- on SQLite and PostgreSQL. After every example:

- each roll-up table equals what :func:`soc.rollup_schema.rebuild` computes from scratch;
- :func:`soc.metrics.compute` from the roll-ups equals the plain scan (``use_rollups=False``),
  for a "now" anywhere in an hour, so the partial first hour/day edges move around.

The plain scan itself is checked against the row-by-row definitions in
test_soc_metrics_reference.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from soc import metrics, rollup_schema
from soc.db import Database
from soc.models import (
    Alert,
    AlertTag,
    MetricRollupRule,
    MetricRollupSeverity,
    MetricRollupTechnique,
    MetricSla,
)

BASE = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
LEVELS = ["informational", "low", "medium", "high", "critical"]
TAGS = ["attack.t1110", "attack.t1110.001", "attack.t1046", "attack.discovery"]

alert_st = st.fixed_dictionaries(
    {
        "severity": st.sampled_from(LEVELS),
        "status": st.sampled_from(["new", "acknowledged", "resolved"]),
        "age_seconds": st.integers(0, 9 * 86400),
        "ack_seconds": st.integers(0, 2 * 86400),
        "res_seconds": st.integers(0, 8 * 86400),
        "rule": st.sampled_from(["r-a", "r-b", "r-c"]),
        "title": st.sampled_from(["alpha", "beta", "gamma"]),
        "fp": st.booleans(),
        "tags": st.sets(st.sampled_from(TAGS), max_size=2),
    }
)
change_st = st.tuples(
    st.sampled_from(["ack", "resolve", "reopen", "group", "move", "retitle", "delete"]),
    st.integers(0, 39),
    st.integers(-3 * 86400, 3 * 86400),
)


def _row(i: int, a: dict[str, Any], now: datetime) -> dict[str, Any]:
    created = now - timedelta(seconds=a["age_seconds"], microseconds=250_000)
    ack = created + timedelta(seconds=a["ack_seconds"] + 0.5) if a["status"] != "new" else None
    res = (
        ack + timedelta(seconds=a["res_seconds"] + 0.5)
        if a["status"] == "resolved" and ack
        else None
    )
    return {
        "id": i,
        "dedup_key": f"k{i}",
        "rule_id": a["rule"],
        "rule_hash": "0" * 64,
        "title": a["title"],
        "description": "",
        "severity": a["severity"],
        "severity_rank": LEVELS.index(a["severity"]),
        "tags": sorted(a["tags"]),
        "fields": {},
        "status": a["status"],
        "closing_reason": ("false_positive" if a["fp"] else "true_positive") if res else None,
        "count": 1,
        "first_seen": created,
        "last_seen": created,
        "created_at": created,
        "acknowledged_at": ack,
        "resolved_at": res,
        "version": 1,
    }


def _apply(session: Any, rows: list[dict[str, Any]], change: tuple[str, int, int]) -> None:
    kind, index, seconds = change
    if not rows:
        return
    row = rows[index % len(rows)]
    where = Alert.id == row["id"]
    if kind == "delete":
        session.execute(delete(AlertTag).where(AlertTag.alert_id == row["id"]))
        session.execute(delete(Alert).where(where))
        rows.remove(row)
        return
    created = row["created_at"]
    values: dict[str, Any] = {
        "ack": {"status": "acknowledged", "acknowledged_at": created + timedelta(seconds=99.5)},
        "resolve": {
            "status": "resolved",
            "closing_reason": "false_positive" if seconds % 2 else "duplicate",
            "acknowledged_at": created + timedelta(seconds=30.5),
            "resolved_at": created + timedelta(seconds=abs(seconds) + 60.5),
        },
        "reopen": {"status": "investigating", "closing_reason": None, "resolved_at": None},
        "group": {"count": Alert.count + 1},
        "move": {"created_at": created + timedelta(seconds=seconds)},
        "retitle": {"title": f"t{seconds % 5}"},
    }[kind]
    session.execute(update(Alert).where(where).values(**values))
    if kind == "move":
        row["created_at"] = created + timedelta(seconds=seconds)


def _snapshot(session: Any) -> dict[str, set[tuple[Any, ...]]]:
    out: dict[str, set[tuple[Any, ...]]] = {}
    for model in (MetricRollupSeverity, MetricRollupRule, MetricRollupTechnique):
        table = model.__table__
        rows = session.execute(select(table).where(table.c.alerts != 0))
        out[model.__tablename__] = {tuple(r) for r in rows}
    return out


def _comparable(report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    means = {}
    for level, numbers in report["severity"].items():
        means[level] = (numbers.pop("mtta_seconds"), numbers.pop("mttr_seconds"))
    return report, means


@pytest.mark.slow
def test_rollups_equal_the_scan_and_a_rebuild(soc_url: str) -> None:
    db = Database(soc_url)
    db.upgrade()

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        spec=st.lists(alert_st, max_size=40),
        changes=st.lists(change_st, max_size=15),
        offset=st.integers(0, 86400 * 1000),
        days=st.sampled_from([1, 2, 7]),
    )
    def check(
        spec: list[dict[str, Any]], changes: list[tuple[str, int, int]], offset: int, days: int
    ) -> None:
        now = BASE + timedelta(milliseconds=offset)
        rows = [_row(i, a, now) for i, a in enumerate(spec, 1)]
        with db.write() as session:
            session.execute(delete(AlertTag))
            session.execute(delete(Alert))
            if rows:
                session.execute(insert(Alert), rows)
                tags = [{"alert_id": r["id"], "tag": t} for r in rows for t in r["tags"]]
                if tags:
                    session.execute(insert(AlertTag), tags)
            for change in changes:
                _apply(session, rows, change)
        with db.read() as session:
            kept = _snapshot(session)
            fast = metrics.compute(session, now=now, days=days)
            slow = metrics.compute(session, now=now, days=days, use_rollups=False)
        with db.write() as session:
            rollup_schema.rebuild(session.connection())
            assert _snapshot(session) == kept
        fast_numbers, fast_means = _comparable(fast)
        slow_numbers, slow_means = _comparable(slow)
        assert fast_numbers == slow_numbers
        for level, pair in slow_means.items():
            for got, want in zip(fast_means[level], pair, strict=True):
                assert (got is None) == (want is None)
                if want is not None:
                    assert abs(got - want) < 0.11, (level, got, want)

    try:
        check()
    finally:
        db.dispose()


def test_other_sla_targets_are_computed_from_the_alerts(soc_url: str) -> None:
    """Roll-ups count late acknowledgements for the stored targets only: other targets must
    not use them (and give the scan's numbers), and set_targets switches them over."""
    db = Database(soc_url)
    db.upgrade()
    now = BASE
    rows = [
        _row(1, {**_spec("critical"), "ack_seconds": 20 * 60}, now),
        _row(2, {**_spec("critical"), "ack_seconds": 5 * 60}, now),
    ]
    strict = {**metrics.DEFAULT_SLA, "critical": metrics.SlaTarget(1, 60)}
    try:
        with db.write() as session:
            session.execute(insert(Alert), rows)
        with db.read() as session:
            default = metrics.compute(session, now=now, days=7)
            other = metrics.compute(session, now=now, days=7, sla=strict)
        assert default["severity"]["critical"]["sla_ack_breaches"] == 1
        assert other["severity"]["critical"]["sla_ack_breaches"] == 2
        with db.write() as session:
            targets = {
                s: (t.acknowledge_minutes * 60, t.resolve_minutes * 60) for s, t in strict.items()
            }
            rollup_schema.set_targets(session.connection(), targets)
        with db.read() as session:
            assert (
                session.scalar(
                    select(MetricSla.acknowledge_seconds).where(MetricSla.severity == "critical")
                )
                == 60
            )
            switched = metrics.compute(session, now=now, days=7, sla=strict)
            late = session.scalar(select(MetricRollupSeverity.ack_late.label("n")))
        assert switched["severity"]["critical"]["sla_ack_breaches"] == 2
        assert late == 2
    finally:
        db.dispose()


def _spec(severity: str) -> dict[str, Any]:
    return {
        "severity": severity,
        "status": "acknowledged",
        "age_seconds": 3 * 86400,
        "ack_seconds": 0,
        "res_seconds": 0,
        "rule": "r-a",
        "title": "alpha",
        "fp": False,
        "tags": set(),
    }
