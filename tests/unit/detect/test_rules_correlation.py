"""Correlation semantics, chained correlations (Sigma: a correlation referring to another one)
and how a chain behaves across watch runs, on the real SQLite store and the real rule file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detect.rules.compile import Compilation, compile_rules
from detect.rules.correlation import (
    CorrelationHit,
    Match,
    as_match,
    evaluate,
    spec_from_rule,
)
from detect.rules.evaluate import run_rules
from detect.rules.loader import RuleSet, load_rule_file, load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.rules.state import CorrelationFloors
from detect.stores.sqlite import SQLiteStore
from tulou.events import Event, event_id, format_timestamp

RULES = Path(__file__).resolve().parents[3] / "rules"
T0 = datetime(2025, 5, 6, 9, 0, tzinfo=UTC)
SUCCESS_AFTER_FAILURES = "89146dca-0fc3-54da-8fc0-552a329c57a7"


def _match(rule: str, n: int, seconds: float, **values: Any) -> Match:
    return Match(rule, f"e{n}", T0 + timedelta(seconds=seconds), values)


def test_as_match_is_the_moment_the_condition_first_held() -> None:
    spec = spec_from_rule(
        "burst", {"type": "event_count", "timespan": "10m", "condition": {"gte": 5}}, ["fail"]
    )
    window = [_match("fail", n, n * 10.0, **{"source.ip": "1.2.3.4"}) for n in range(8)]
    (hit,) = evaluate(spec, window)
    chained = as_match(spec, hit)
    assert (chained.event_id, chained.timestamp) == ("e4", T0 + timedelta(seconds=40))
    assert chained.since == T0
    assert chained.evidence == tuple(f"e{n}" for n in range(8))
    assert chained.rule_id == "burst"


def test_as_match_value_count_and_temporal_ordered_moments() -> None:
    users = ["a", "b", "a", "c", "d"]
    window = [_match("fail", n, float(n), **{"user.name": u}) for n, u in enumerate(users)]
    spec = spec_from_rule(
        "spray",
        {"type": "value_count", "timespan": "1m", "condition": {"gte": 3, "field": "user.name"}},
        ["fail"],
    )
    assert as_match(spec, evaluate(spec, window)[0]).event_id == "e3"  # a, b, a, c: third value
    ordered = spec_from_rule("seq", {"type": "temporal_ordered", "timespan": "1m"}, ["x", "y"])
    items = [_match("y", 0, 0.0), _match("x", 1, 1.0), _match("x", 2, 2.0), _match("y", 3, 3.0)]
    assert as_match(ordered, evaluate(ordered, items)[0]).event_id == "e3"


def _chain() -> tuple[Any, Any]:
    burst = spec_from_rule(
        "burst",
        {
            "type": "event_count",
            "group-by": ["source.ip"],
            "timespan": "10m",
            "condition": {"gte": 5},
        },
        ["fail"],
    )
    after = spec_from_rule(
        "after",
        {"type": "temporal_ordered", "group-by": ["source.ip"], "timespan": "10m"},
        ["burst", "ok"],
    )
    return burst, after


def _fire_chain(matches: list[Match]) -> list[CorrelationHit]:
    burst, after = _chain()
    fed = [as_match(burst, hit) for hit in evaluate(burst, matches)]
    return evaluate(after, fed + [m for m in matches if m.rule_id == "ok"])


@pytest.mark.parametrize(
    ("failures_before", "failures_after", "fires"),
    [(5, 0, True), (9, 3, True), (4, 0, False), (1, 0, False), (4, 1, False), (0, 6, False)],
)
def test_chain_needs_the_whole_burst_before_the_login(
    failures_before: int, failures_after: int, fires: bool
) -> None:
    ip = {"source.ip": "198.51.100.7"}
    before = [_match("fail", n, float(n), **ip) for n in range(failures_before)]
    login = _match("ok", 100, 30.0, **ip)
    after = [_match("fail", 200 + n, 31.0 + n, **ip) for n in range(failures_after)]
    hits = _fire_chain([*before, login, *after])
    assert bool(hits) is fires
    if fires:
        (hit,) = hits
        assert hit.first_seen == T0  # the first failure of the burst, not its fifth
        assert hit.last_seen == login.timestamp
        assert set(hit.event_ids) == {m.event_id for m in before + after} | {"e100"}


def test_chain_groups_by_address() -> None:
    failures = [_match("fail", n, float(n), **{"source.ip": "203.0.113.9"}) for n in range(6)]
    assert not _fire_chain([*failures, _match("ok", 99, 20.0, **{"source.ip": "10.1.1.1"})])
    assert _fire_chain([*failures, _match("ok", 99, 20.0, **{"source.ip": "203.0.113.9"})])


def _write(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "chain.yml"
    path.write_text(text, encoding="utf-8")
    return RuleSet(rules=load_rule_file(path))


BASE = """title: base
id: 6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a01
name: base_fail
logsource: {product: tulou, service: auth}
detection: {selection: {event.outcome: failure}, condition: selection}
level: informational
"""


def _correlation(
    uid: str, name: str, refs: list[str], group_by: list[str], generate: bool = False
) -> str:
    return (
        f"---\ntitle: {name}\nid: {uid}\nname: {name}\n"
        f"correlation: {{type: event_count, rules: {json.dumps(refs)}, "
        f"group-by: {json.dumps(group_by)}, timespan: 5m, condition: {{gte: 2}}, "
        f"generate: {json.dumps(generate)}}}\n"
        "level: high\n"
    )


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return combined(load_pipelines().values())


@pytest.fixture
def store() -> Iterator[SQLiteStore]:
    store = SQLiteStore(":memory:")
    yield store
    store.close()


def _compile(rules: RuleSet, store: SQLiteStore, pipeline: Any) -> tuple[Compilation, Any]:
    target = SqliteRuleTarget(store, pipeline)
    return compile_rules(rules, target.name, target.backend), target


def test_compile_refuses_loops_and_missing_group_fields(
    tmp_path: Path, store: SQLiteStore, pipeline: Any
) -> None:
    rules = _write(
        tmp_path,
        BASE
        + _correlation("6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a02", "c_a", ["c_b"], ["source.ip"])
        + _correlation("6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a03", "c_b", ["c_a"], ["source.ip"])
        + _correlation("6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a04", "c_ip", ["base_fail"], ["source.ip"])
        + _correlation("6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a05", "c_user", ["c_ip"], ["user.name"])
        + _correlation("6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a06", "c_top", ["c_ip"], ["source.ip"]),
    )
    compilation, _ = _compile(rules, store, pipeline)
    reasons = {(p.rule_id or "")[-2:]: p.reason for p in compilation.problems}
    assert "loops" in reasons["02"] and "loops" in reasons["03"]
    assert "does not group by ['user.name']" in reasons["05"]
    assert list(compilation.correlations) == [
        "6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a04",
        "6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a06",
    ]  # the referred correlation first
    assert compilation.silent == {"6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a04"}  # Sigma's default


def test_a_referred_correlation_with_generate_alerts_and_feeds(
    tmp_path: Path, store: SQLiteStore, pipeline: Any
) -> None:
    rules = _write(
        tmp_path,
        BASE
        + _correlation("6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a04", "c_ip", ["base_fail"], ["source.ip"])
        + _correlation(
            "6b1c7b52-0cf6-4a39-9f62-3c4f1f8f0a06", "c_top", ["c_ip"], ["source.ip"], True
        ),
    )
    compilation, target = _compile(rules, store, pipeline)
    assert not compilation.problems and compilation.silent == set()
    # Two windows of two failures (c_ip fires twice, at 10 s and 306 s: under 5 m apart), so
    # c_top (two c_ip hits in 5 m) fires once, over all four failures.
    moments = (0.0, 10.0, 305.0, 306.0)
    store.write([_auth(n, at, "failure", "192.0.2.8") for n, at in enumerate(moments)])
    result = run_rules(compilation, target, T0, T0 + timedelta(minutes=10))
    fired = sorted(a.rule_id[-2:] for a in result.alerts)
    assert fired == ["04", "04", "06"]
    top = next(a for a in result.alerts if a.rule_id.endswith("06"))
    assert len(top.event_ids) == 4


def _auth(n: int, seconds: float, outcome: str, ip: str, user: str = "root") -> Event:
    return {
        "@timestamp": format_timestamp(T0 + timedelta(seconds=seconds)),
        "event.id": event_id("chain-test", n),
        "event.original": f"sshd {outcome} {user} from {ip}",
        "event.dataset": "auth",
        "event.category": ["authentication"],
        "event.action": "ssh_login",
        "event.outcome": outcome,
        "process.name": "sshd",
        "source.ip": ip,
        "user.name": user,
    }


def test_corpus_rule_across_overlapping_watch_runs(store: SQLiteStore, pipeline: Any) -> None:
    """The burst is seen in one run, the login in the next (lookback overlap): one alert."""
    path = RULES / "ssh-success-after-failures.yml"
    rules = RuleSet(rules=[r for r in load_rules([RULES]).rules if r.path == path])
    compilation, target = _compile(rules, store, pipeline)
    assert not compilation.problems
    assert len(compilation.silent) == 1  # the burst step feeds the chain, never alerts
    users = ["root", "admin", "zhang.wei", "oracle", "ops", "li.na"]
    failures = [_auth(n, 10.0 * n, "failure", "198.51.100.77", u) for n, u in enumerate(users)]
    typos = [_auth(50 + n, 5.0 + n, "failure", "10.20.9.14", "li.na") for n in range(2)]
    store.write(failures + typos)
    floors = CorrelationFloors()
    first = run_rules(compilation, target, T0, T0 + timedelta(minutes=2), floors=floors)
    assert first.alerts == []
    store.write(
        [
            _auth(90, 130.0, "success", "198.51.100.77", "wang.fang"),
            _auth(91, 131.0, "success", "10.20.9.14", "li.na"),  # after two typos: normal
        ]
    )
    second = run_rules(compilation, target, T0, T0 + timedelta(minutes=5), floors=floors)
    (alert,) = second.alerts
    assert alert.rule_id == SUCCESS_AFTER_FAILURES
    assert alert.level == "critical"
    assert alert.first_seen == format_timestamp(T0)
    assert set(alert.event_ids) == {e["event.id"] for e in failures} | {event_id("chain-test", 90)}
    third = run_rules(compilation, target, T0, T0 + timedelta(minutes=6), floors=floors)
    assert third.alerts == []
