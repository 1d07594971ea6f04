"""Every rule of our corpus on its sample events, on the real SQLite store and on the memory
target (the reference predicates of detect/rules/memory_backend.py): both must agree.

Each rule runs alone on a fresh store holding only its samples: the positive events must raise
an alert of that rule (every positive event, for a plain rule), the negative ones none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detect.rules.compile import compile_rules
from detect.rules.loader import RuleSet, chain_tops, load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.targets import target_for
from detect.stores.memory import MemoryStore
from detect.stores.sqlite import SQLiteStore
from tests.unit.detect.samples import evaluate_samples, load_samples

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
SAMPLES = Path(__file__).resolve().parent / "rule_samples"
SLUGS = sorted(p.stem for p in RULES.glob("*.yml"))


@pytest.fixture(scope="module")
def corpus() -> RuleSet:
    return load_rules([RULES])


@pytest.fixture(scope="module")
def pipeline():  # type: ignore[no-untyped-def]
    return combined(load_pipelines().values())


def _one(corpus: RuleSet, slug: str) -> RuleSet:
    path = RULES / f"{slug}.yml"
    return RuleSet(rules=[r for r in corpus.rules if r.path == path])


def _main_id(rules: RuleSet) -> str:
    return chain_tops(rules.rules)[0].rule_id


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("side", ["positive", "negative"])
def test_rule_on_its_samples(corpus: RuleSet, pipeline, slug: str, side: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    samples = load_samples(SAMPLES / f"{slug}.yaml")
    rules = _one(corpus, slug)
    store = SQLiteStore(":memory:") if kind == "sqlite" else MemoryStore()
    try:
        events = getattr(samples, side)
        assert store.write(events).stored == len(events)
        target = target_for(f"{kind}:", store, pipeline)
        compilation = compile_rules(rules, target.name, target.backend)
        assert not compilation.problems, [p.to_dict() for p in compilation.problems]
        verdict = evaluate_samples(compilation, target, events)
    finally:
        store.close()
    rule_id = _main_id(rules)
    fired = verdict.fired(rule_id)
    other = {k: v for k, v in verdict.alerts.items() if k != rule_id}
    assert not other, f"base rules of a correlation must not alert on their own: {other}"
    if side == "negative":
        assert fired == []
    elif any(r.is_correlation for r in rules.rules):
        assert fired, "the positive sequence must fire the correlation"
    else:
        assert sorted(ids for (ids,) in fired) == sorted(e["event.id"] for e in events)
