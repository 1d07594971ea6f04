"""The Elasticsearch literal pre-filter on a real node: evaluation with it returns exactly the
matches of evaluation without it, on random events built from the rules' own literals (random
case, glued, as lists), for our corpus and a sample of public SigmaHQ rules; and it does skip
rules. Each window of a few events is evaluated on its own so the distinct values are few and
the pre-filter really decides."""

from __future__ import annotations

import random  # noqa: TID251 - reproducible test events, nothing secret
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detect.rules.compile import PARTITION_FIELDS, Compilation, compile_rules
from detect.rules.es_target import EsRuleTarget
from detect.rules.evaluate import run_rules
from detect.rules.literals import Lit, Tree
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.stores.elasticsearch import ElasticsearchStore
from tests.conftest import SHARED
from tulou.events import Event, event_id, format_timestamp

pytestmark = pytest.mark.elasticsearch

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2025, 7, 1, tzinfo=UTC)


def _leaves(tree: Tree | None) -> list[Lit]:
    if tree is None:
        return []
    if isinstance(tree, Lit):
        return [tree]
    return [leaf for part in tree.parts for leaf in _leaves(part)]


def _case(rng: random.Random, word: str) -> str:
    return rng.choice((word, word.upper(), word.title()))


def _events(compilation: Compilation, seed: int, windows: int) -> list[Event]:
    """Per window, 1-5 events of one rule's log source holding literals of its rules."""
    rng = random.Random(seed)
    by_source: dict[tuple[Any, ...], dict[str, set[str]]] = {}
    for rule in compilation.rules.values():
        words = by_source.setdefault(tuple(sorted(rule.requires.items())), {})
        for tree in rule.literals:
            for leaf in _leaves(tree):
                if leaf.field not in PARTITION_FIELDS:
                    words.setdefault(leaf.field, set()).add(leaf.literal)
    sources = sorted((k, v) for k, v in by_source.items() if v)
    out: list[Event] = []
    for window in range(windows):
        requires, vocabulary = rng.choice(sources)
        names = sorted(vocabulary)
        for i in range(rng.randint(1, 5)):
            moment = T0 + timedelta(minutes=window, seconds=i)
            event: Event = {
                "@timestamp": format_timestamp(moment),
                "event.id": event_id(f"es-prefilter-{seed}", len(out)),
                "event.original": f"event {window} {i}",
            }
            for name, allowed in requires:
                value = rng.choice(sorted(allowed))
                event[name] = int(value) if value.isdigit() else value
            for name in rng.sample(names, min(len(names), rng.randint(1, 4))):
                picked = rng.choices(sorted(vocabulary[name]), k=rng.randint(1, 3))
                glue = rng.choice(("", " ", "\\", "x"))
                text = glue.join(_case(rng, w) for w in picked)
                if rng.random() < 0.15:  # characters Unicode case mappings tie to ASCII letters
                    text = text.replace("k", "\u212a").replace("s", "\u017f").replace("I", "\u0130")
                event[name] = [text, "other"] if rng.random() < 0.2 else text
            out.append(event)
    return out


def _per_window(
    compilation: Compilation, target: EsRuleTarget, on: bool, windows: int, refused: set[str]
) -> list[Any]:
    target.literal_prefilter = on
    found = []
    for window in range(windows):
        start = T0 + timedelta(minutes=window)
        result = run_rules(compilation, target, start, start + timedelta(minutes=1))
        found.append(sorted((a.rule_id, a.event_ids) for a in result.alerts))
        refused.update(result.errors)
    return found


@pytest.fixture
def store(elasticsearch_url: str) -> Iterator[ElasticsearchStore]:
    store = ElasticsearchStore(elasticsearch_url, index=f"test-prefilter-{uuid.uuid4().hex[:8]}")
    yield store
    store.client.indices.delete(index=store.index, ignore_unavailable=True)
    store.client.options(ignore_status=404).indices.delete_index_template(name=store.index)
    store.close()


def _check(
    roots: list[Path], store: ElasticsearchStore, seed: int, windows: int, sample: int = 0
) -> int:
    ruleset = load_rules(roots)
    if sample:
        ordered = sorted(ruleset.rules, key=lambda r: r.rule_id)
        ruleset.rules = random.Random(seed).sample(ordered, sample)
    target = EsRuleTarget.for_store(store, combined(load_pipelines().values()))
    events = _events(compile_rules(ruleset, target.name, target.backend), seed, windows)
    assert store.write(events).stored == len(events)
    target.prepare([])
    compilation = compile_rules(ruleset, target.name, target.backend)  # on the real mapping
    refused_with: set[str] = set()
    refused_without: set[str] = set()
    with_filter = _per_window(compilation, target, True, windows, refused_with)
    assert with_filter == _per_window(compilation, target, False, windows, refused_without)
    # A rule the pre-filter does not send cannot be refused; any other refusal is the same.
    assert refused_with <= refused_without
    return sum(len(window) for window in with_filter)


def test_prefilter_equals_unfiltered_on_our_corpus(store: ElasticsearchStore) -> None:
    assert _check([ROOT / "rules"], store, seed=3, windows=12) > 0  # some rules matched


@pytest.mark.corpus
@pytest.mark.slow
def test_prefilter_equals_unfiltered_on_sigmahq_rules(store: ElasticsearchStore) -> None:
    folder = SHARED / "data" / "sigmahq" / "rules" / "windows" / "process_creation"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the public corpora live beside the repository)")
    assert _check([folder], store, seed=4, windows=6, sample=60) > 0


def test_prefilter_skips_rules_whose_literals_are_absent(store: ElasticsearchStore) -> None:
    """One search for a batch whose literals no value holds: nothing is sent for its rules."""
    target = EsRuleTarget.for_store(store, combined(load_pipelines().values()))
    event = {
        "@timestamp": format_timestamp(T0),
        "event.id": event_id("es-prefilter-skip", 0),
        "event.dataset": "auditd",
        "process.command_line": "ls -la",
    }
    assert store.write([event]).stored == 1
    target.prepare([])
    sent: list[int] = []
    real = target._msearch

    def counting(searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rules = [body for body in searches[1::2] if "aggs" not in body]
        if rules:
            sent.append(len(rules))
        return real(searches)

    target._msearch = counting  # type: ignore[method-assign]
    query = {"wildcard": {"process.command_line": {"value": "*mimikatz*"}}}
    items = [("r1", query), ("r2", {"term": {"process.command_line": "ls -la"}})]
    trees: list[Tree | None] = [Lit("process.command_line", "mimikatz"), None]
    requires = {"event.dataset": frozenset({"auditd"})}
    end = T0 + timedelta(minutes=1)
    found = target.matches_batch(items, requires, T0, end, [], literals=trees)
    assert sent == [1]  # only r2's search went out
    assert found["r1"] == [] and [m.event_id for m in found["r2"]] == [event["event.id"]]
