"""The SQL metrics equal a plain-Python computation over the same alerts (Hypothesis).

Random alerts (severity, status, creation time inside or outside the window, acknowledge and
resolve delays, rule, closing reason, occurrence count) are written to a real SQLite SOC
database; :func:`soc.metrics.compute` must give what the definitions in its docstring give when
applied row by row. Delays are whole minutes plus 30 s and creation times sit a quarter second
off the minute, so no value lands exactly on an SLA limit (where float rounding of the database's
date arithmetic would make either answer defensible).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from soc import metrics
from soc.db import Database
from soc.models import Alert, AlertTag

NOW = datetime(2026, 3, 10, 12, 0, 0, 500_000, tzinfo=UTC)
LEVELS = ["informational", "low", "medium", "high", "critical"]

alert_st = st.fixed_dictionaries(
    {
        "severity": st.sampled_from(LEVELS),
        "status": st.sampled_from(["new", "acknowledged", "investigating", "resolved"]),
        "age_minutes": st.integers(0, 10 * 24 * 60),
        "ack_minutes": st.integers(0, 3 * 24 * 60),
        "res_minutes": st.integers(0, 10 * 24 * 60),
        "rule": st.sampled_from(["r-a", "r-b", "r-c"]),
        "fp": st.booleans(),
        "count": st.integers(1, 5),
    }
)


def _rows(spec: list[dict]) -> list[dict]:
    rows = []
    for i, a in enumerate(spec, 1):
        created = NOW - timedelta(minutes=a["age_minutes"], seconds=0.25)
        ack = (
            created + timedelta(minutes=a["ack_minutes"], seconds=30)
            if a["status"] != "new"
            else None
        )
        res = (
            ack + timedelta(minutes=a["res_minutes"], seconds=30)
            if a["status"] == "resolved" and ack
            else None
        )
        rows.append(
            {
                "id": i,
                "dedup_key": f"k{i}",
                "rule_id": a["rule"],
                "rule_hash": "0" * 64,
                "title": f"title {a['rule']}",
                "description": "",
                "severity": a["severity"],
                "severity_rank": LEVELS.index(a["severity"]),
                "tags": [],
                "fields": {},
                "status": a["status"],
                "closing_reason": ("false_positive" if a["fp"] else "true_positive")
                if res
                else None,
                "count": a["count"],
                "first_seen": created,
                "last_seen": created,
                "created_at": created,
                "acknowledged_at": ack,
                "resolved_at": res,
                "version": 1,
            }
        )
    return rows


def _reference(rows: list[dict], days: int) -> dict:
    since = NOW - timedelta(days=days)
    window = [r for r in rows if r["created_at"] >= since]
    severity = {}
    for level in reversed(LEVELS):
        mine = [r for r in window if r["severity"] == level]
        if not mine:
            continue
        target = metrics.DEFAULT_SLA[level]
        acked = [
            (r["acknowledged_at"] - r["created_at"]).total_seconds()
            for r in mine
            if r["acknowledged_at"]
        ]
        solved = [
            (r["resolved_at"] - r["created_at"]).total_seconds() for r in mine if r["resolved_at"]
        ]

        def breach(r: dict, key: str, minutes: int) -> bool:
            if r[key] is None:
                return r["created_at"] < NOW - timedelta(minutes=minutes)
            return (r[key] - r["created_at"]).total_seconds() > minutes * 60

        severity[level] = {
            "alerts": len(mine),
            "resolved": sum(r["status"] == "resolved" for r in mine),
            "mtta_seconds": sum(acked) / len(acked) if acked else None,
            "mttr_seconds": sum(solved) / len(solved) if solved else None,
            "sla_ack_breaches": sum(
                breach(r, "acknowledged_at", target.acknowledge_minutes) for r in mine
            ),
            "sla_resolve_breaches": sum(
                breach(r, "resolved_at", target.resolve_minutes) for r in mine
            ),
        }
    per_rule = Counter(r["rule_id"] for r in window)
    occurrences = Counter()
    for r in window:
        occurrences[r["rule_id"]] += r["count"]
    top = sorted(per_rule, key=lambda k: (-per_rule[k], k))[:10]
    resolved = [r for r in window if r["status"] == "resolved"]
    fp = {}
    for rule in sorted({r["rule_id"] for r in resolved}):
        mine = [r for r in resolved if r["rule_id"] == rule]
        n_fp = sum(r["closing_reason"] == "false_positive" for r in mine)
        fp[rule] = (len(mine), n_fp)
    return {
        "severity": severity,
        "total": len(window),
        "top_rules": [(k, per_rule[k], occurrences[k]) for k in top],
        "fp": fp,
    }


def test_sql_metrics_equal_the_row_by_row_definitions(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'soc.db'}")
    db.upgrade()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(spec=st.lists(alert_st, max_size=40), days=st.sampled_from([1, 2, 7]))
    def check(spec: list[dict], days: int) -> None:
        rows = _rows(spec)
        with db.write() as session:
            session.execute(delete(AlertTag))
            session.execute(delete(Alert))
            if rows:
                session.execute(insert(Alert), rows)
        with db.read() as session:
            got = metrics.compute(session, now=NOW, days=days)
        want = _reference(rows, days)
        assert list(got["severity"]) == list(want["severity"])
        for level, expected in want["severity"].items():
            actual = got["severity"][level]
            for key in ("alerts", "resolved", "sla_ack_breaches", "sla_resolve_breaches"):
                assert actual[key] == expected[key], (level, key)
            for key in ("mtta_seconds", "mttr_seconds"):
                if expected[key] is None:
                    assert actual[key] is None
                else:
                    assert abs(actual[key] - expected[key]) < 0.11, (level, key)
        assert sum(b["alerts"] for b in got["volume"]["buckets"]) == want["total"]
        assert [(r["rule_id"], r["alerts"], r["occurrences"]) for r in got["top_rules"]] == want[
            "top_rules"
        ]
        assert {
            r["rule_id"]: (r["resolved"], r["false_positives"]) for r in got["false_positive_rates"]
        } == want["fp"]

    try:
        check()
    finally:
        db.dispose()
