"""The RuleTarget conformance suite: subclass it and provide a ``load`` fixture that returns a
function ``events -> RuleTarget`` (a fresh store holding exactly those events).

Every target (memory fake, SQLite, Elasticsearch) runs exactly these tests; see the contract in
detect/rules/targets.py. The expected matches are written out by hand for each rule below
(the events are small enough to check by eye), never computed by a target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from detect.rules.compile import Compilation, compile_rules
from detect.rules.evaluate import run_rules
from detect.rules.loader import load_rules
from detect.rules.targets import MatchesInBatches, RuleTarget
from tulou.events import event_id, format_timestamp

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
END = T0 + timedelta(minutes=10)

type Load = Callable[[Sequence[dict[str, Any]]], RuleTarget]


def ev(n: int, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@timestamp": format_timestamp(T0 + timedelta(seconds=n)),
        "event.id": event_id("target-conformance", n),
        "event.dataset": "auth",
        "event.original": f"line {n}",
    }
    event.update(fields)
    return event


EVENTS = [
    ev(0, **{"user.name": "Root", "source.ip": "10.1.2.3", "destination.port": 22}),
    ev(1, **{"user.name": "root", "source.ip": "192.0.2.9", "destination.port": 2222}),
    ev(2, **{"user.name": "admin", "process.command_line": "sudo -i /bin/bash"}),
    ev(3, **{"event.category": ["authentication", "session"], "event.outcome": "failure"}),
    ev(4, **{"url.path": "/admin/login.php", "event.original": "GET /admin/login.php RootKit"}),
    ev(5, **{"user.name": "ROOTER", "destination.port": 443}),
    ev(6, **{"event.dataset": "web", "user.name": "root"}),  # another log source
]


def _id(n: int) -> str:
    return event_id("target-conformance", n)


#: rule slug -> (detection, the event numbers that match it). Log source: product tulou,
#: service auth (the pipeline adds ``event.dataset: auth``).
RULES: dict[str, tuple[dict[str, Any], list[int]]] = {
    "plain-case-insensitive": ({"s": {"user.name": "root"}, "condition": "s"}, [0, 1]),
    "cased": ({"s": {"user.name|cased": "Root"}, "condition": "s"}, [0]),
    "wildcard": ({"s": {"user.name": "ro*"}, "condition": "s"}, [0, 1, 5]),
    "single-char": ({"s": {"user.name": "ro?t"}, "condition": "s"}, [0, 1]),
    "contains": ({"s": {"process.command_line|contains": "/BIN/"}, "condition": "s"}, [2]),
    "startswith-endswith": (
        {
            "a": {"url.path|startswith": "/admin"},
            "b": {"url.path|endswith": ".php"},
            "condition": "a and b",
        },
        [4],
    ),
    "list-element": ({"s": {"event.category": "session"}, "condition": "s"}, [3]),
    "number": ({"s": {"destination.port": 22}, "condition": "s"}, [0]),
    "compare": ({"s": {"destination.port|gte": 443}, "condition": "s"}, [1, 5]),
    "cidr": ({"s": {"source.ip|cidr": "10.0.0.0/8"}, "condition": "s"}, [0]),
    "regex": ({"s": {"user.name|re": "^r[o]+t$"}, "condition": "s"}, [1]),
    "regex-flag-i": ({"s": {"user.name|re|i": "^r[o]+t$"}, "condition": "s"}, [0, 1]),
    "null": ({"s": {"user.name": None}, "condition": "s"}, [3, 4]),
    "exists": ({"s": {"process.command_line|exists": True}, "condition": "s"}, [2]),
    "keyword": ({"k": ["rootkit"], "condition": "k"}, [4]),
    "not": (
        {"s": {"user.name": "ro*"}, "f": {"destination.port": 22}, "condition": "s and not f"},
        [1, 5],
    ),
    "one-of": (
        {"a": {"user.name": "admin"}, "b": {"destination.port": 443}, "condition": "1 of a*"},
        [2],
    ),
    "never-seen-field": ({"s": {"nobody.has.this": "x"}, "condition": "s"}, []),
}


def compile_suite(tmp_path: Path, target: RuleTarget) -> Compilation:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for number, (slug, (detection, _)) in enumerate(RULES.items()):
        rule = {
            "title": slug,
            "id": f"00000000-0000-4000-8000-{number:012d}",
            "status": "test",
            "level": "low",
            "logsource": {"product": "tulou", "service": "auth"},
            "detection": detection,
        }
        (folder / f"{slug}.yml").write_text(yaml.safe_dump(rule))
    compilation = compile_rules(load_rules([folder]), target.name, target.backend)
    assert not compilation.problems, [p.to_dict() for p in compilation.problems]
    return compilation


class RuleTargetConformance:
    """Subclass with a ``load`` fixture (see the module docstring)."""

    @pytest.fixture
    def load(self) -> Load:  # pragma: no cover - overridden
        raise NotImplementedError

    def _matches(self, target: RuleTarget, compilation: Compilation, **kw: Any) -> dict[str, Any]:
        fields = kw.get("fields", ["user.name", "event.category"])
        target.prepare(sorted(compilation.fields() | set(fields)))
        out = {}
        for compiled in compilation.rules.values():
            found = []
            for query in compiled.queries:
                found += target.matches(
                    compiled.rule.title, query, kw.get("start", T0), kw.get("end", END), fields
                )
            out[compiled.rule.title] = found
        return out

    def test_every_value_kind_matches_what_sigma_means(self, load: Load, tmp_path: Path) -> None:
        target = load(EVENTS)
        found = self._matches(target, compile_suite(tmp_path, target))
        for slug, (_, expected) in RULES.items():
            assert [m.event_id for m in found[slug]] == [_id(n) for n in expected], slug

    def test_matches_carry_fields_as_stored_in_time_order(self, load: Load, tmp_path: Path) -> None:
        target = load(list(reversed(EVENTS)))
        compilation = compile_suite(tmp_path, target)
        found = self._matches(target, compilation)
        wild = found["wildcard"]
        assert [m.timestamp for m in wild] == sorted(m.timestamp for m in wild)
        assert [m.values["user.name"] for m in wild] == ["Root", "root", "ROOTER"]
        (session,) = found["list-element"]
        assert session.values == {
            "user.name": None,
            "event.category": ["authentication", "session"],
        }

    def test_the_range_is_half_open(self, load: Load, tmp_path: Path) -> None:
        target = load(EVENTS)
        compilation = compile_suite(tmp_path, target)
        # [T0 + 1 s, T0 + 5 s): event 1 is in, event 5 (at the end) is out.
        found = self._matches(
            target, compilation, start=T0 + timedelta(seconds=1), end=T0 + timedelta(seconds=5)
        )
        assert [m.event_id for m in found["wildcard"]] == [_id(1)]

    def test_distinct_values_in_lower_case(self, load: Load) -> None:
        target = load(EVENTS)
        target.prepare(["user.name", "event.category"])
        assert target.distinct("event.dataset", T0, END) == {"auth", "web"}
        assert target.distinct("user.name", T0, T0 + timedelta(seconds=2)) == {"root"}
        assert target.distinct("event.category", T0, END) >= {"authentication", "session"}

    def test_batches_equal_single_rules(self, load: Load, tmp_path: Path) -> None:
        target = load(EVENTS)
        if not isinstance(target, MatchesInBatches):
            pytest.skip(f"{target.name} has no batch capability")
        compilation = compile_suite(tmp_path, target)
        single = self._matches(target, compilation)
        items = [(c.rule.title, q) for c in compilation.rules.values() for q in c.queries]
        requires = {"event.dataset": frozenset({"auth"})}
        batch = target.matches_batch(items, requires, T0, END, ["user.name", "event.category"])
        assert {k: [m.event_id for m in v] for k, v in batch.items()} == {
            k: [m.event_id for m in v] for k, v in single.items()
        }

    def test_run_rules_raises_one_alert_per_match(self, load: Load, tmp_path: Path) -> None:
        target = load(EVENTS)
        result = run_rules(compile_suite(tmp_path, target), target, T0, END)
        assert not result.errors
        by_rule: dict[str, list[str]] = {}
        for alert in result.alerts:
            by_rule.setdefault(alert.title, []).extend(alert.event_ids)
        assert by_rule == {
            slug: [_id(n) for n in expected] for slug, (_, expected) in RULES.items() if expected
        }
