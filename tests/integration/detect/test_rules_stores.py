"""Rules on both real stores: every corpus rule's samples on Elasticsearch, and the same alerts
from SQLite and Elasticsearch for the whole corpus (correlations included) over shared data.

Each rule's samples are shifted into their own day (positive and negative half a day apart), so
one index holds them all and each evaluation's time range sees only the events meant for it.
"""

from __future__ import annotations

import random  # noqa: TID251 - reproducible test traffic, nothing secret
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detect.rules.compile import compile_rules
from detect.rules.es_target import EsRuleTarget
from detect.rules.evaluate import run_rules
from detect.rules.loader import RuleSet, chain_tops, load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.stores.elasticsearch import ElasticsearchStore
from detect.stores.sqlite import SQLiteStore
from tests.unit.detect.samples import evaluate_samples, load_samples
from tulou.events import Event, event_id, format_timestamp, parse_timestamp

pytestmark = pytest.mark.elasticsearch

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
SAMPLES = ROOT / "tests" / "unit" / "detect" / "rule_samples"
SLUGS = sorted(p.stem for p in RULES.glob("*.yml"))
SAMPLE_DAY = "2025-03-01"


def _shift(events: list[Event], delta: timedelta, tag: str) -> list[Event]:
    out = []
    for index, event in enumerate(events):
        moved = dict(event)
        moved["@timestamp"] = format_timestamp(parse_timestamp(event["@timestamp"]) + delta)
        moved["event.id"] = event_id(tag, index)
        out.append(moved)
    return out


@pytest.fixture(scope="module")
def corpus() -> RuleSet:
    return load_rules([RULES])


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return combined(load_pipelines().values())


@pytest.fixture(scope="module")
def shifted() -> dict[tuple[str, str], list[Event]]:
    out = {}
    for day, slug in enumerate(SLUGS):
        samples = load_samples(SAMPLES / f"{slug}.yaml")
        days = {e["@timestamp"][:10] for e in samples.positive + samples.negative}
        # The corpus window below starts on SAMPLE_DAY: a sample elsewhere would silently not fire.
        assert days <= {SAMPLE_DAY}, f"{slug}: samples must be dated {SAMPLE_DAY}, not {days}"
        for half, side in enumerate(("positive", "negative")):
            delta = timedelta(days=day, hours=12 * half)
            out[slug, side] = _shift(getattr(samples, side), delta, f"{slug}:{side}")
    return out


@pytest.fixture(scope="module")
def es_store(elasticsearch_url: str, shifted: dict[tuple[str, str], list[Event]]) -> Any:
    store = ElasticsearchStore(elasticsearch_url, index=f"test-rules-{uuid.uuid4().hex[:8]}")
    events = [e for batch in shifted.values() for e in batch]
    assert store.write(events).stored == len(events)
    yield store
    store.client.indices.delete(index=store.index, ignore_unavailable=True)
    store.client.indices.delete_index_template(name=store.index)
    store.client.close()


@pytest.fixture(scope="module")
def sqlite_store(shifted: dict[tuple[str, str], list[Event]]) -> Any:
    store = SQLiteStore(":memory:")
    events = [e for batch in shifted.values() for e in batch]
    assert store.write(events).stored == len(events)
    yield store
    store.close()


@pytest.mark.parametrize("slug", SLUGS)
def test_rule_samples_on_elasticsearch(
    corpus: RuleSet, pipeline: Any, es_store: Any, shifted: Any, slug: str
) -> None:
    rules = RuleSet(rules=[r for r in corpus.rules if r.path == RULES / f"{slug}.yml"])
    main = chain_tops(rules.rules)[0].rule_id
    target = EsRuleTarget.for_store(es_store, pipeline)
    compilation = compile_rules(rules, "elasticsearch", target.backend)
    assert compilation.problems == []
    positive = evaluate_samples(compilation, target, shifted[slug, "positive"])
    negative = evaluate_samples(compilation, target, shifted[slug, "negative"])
    assert set(positive.alerts) == {main}
    assert negative.alerts == {}
    if not any(r.is_correlation for r in rules.rules):
        ids = sorted(ids for (ids,) in positive.fired(main))
        assert ids == sorted(e["event.id"] for e in shifted[slug, "positive"])


def _alerts(result: Any) -> set[tuple[str, tuple[str, ...], str, str]]:
    return {
        (a.rule_id, tuple(sorted(a.event_ids)), a.first_seen, a.last_seen) for a in result.alerts
    }


def test_whole_corpus_same_alerts_on_both_stores(
    corpus: RuleSet, pipeline: Any, es_store: Any, sqlite_store: Any
) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=len(SLUGS) + 1)
    results = {}
    for target in (
        SqliteRuleTarget(sqlite_store, pipeline),
        EsRuleTarget.for_store(es_store, pipeline),
    ):
        compilation = compile_rules(corpus, target.name, target.backend)
        assert compilation.problems == []
        results[target.name] = _alerts(run_rules(compilation, target, start, end))
    assert results["sqlite"] == results["elasticsearch"]
    fired = {rule_id for rule_id, *_ in results["sqlite"]}
    mains = {
        top.rule_id
        for path in {r.path for r in corpus.rules}
        for top in chain_tops(r for r in corpus.rules if r.path == path)
        if top.is_correlation or top.level != "informational"
    }
    assert fired == mains  # every rule fired on its positives, nothing else alerted


def _noise(seed: int) -> list[Event]:
    """Random SSH, flow and DNS traffic dense enough to fire and not fire correlations."""
    rng = random.Random(seed)
    base = datetime(2025, 6, 1, tzinfo=UTC)
    events: list[Event] = []
    for i in range(1500):
        moment = format_timestamp(base + timedelta(seconds=rng.uniform(0, 1800)))
        src = f"10.9.0.{rng.randint(1, 6)}"
        kind = rng.choice(("ssh", "flow", "dns", "gw"))
        event: Event = {"@timestamp": moment, "event.id": event_id(f"noise{seed}", i)}
        event["event.original"] = f"noise {kind} {i}"
        if kind == "ssh":
            event.update(
                {
                    "event.dataset": "auth",
                    "event.action": "ssh_login",
                    "event.outcome": rng.choice(("failure",) * 5 + ("success",)),
                    "user.name": rng.choice(("root", "alice", "bob", "carol", "dave", "erin")),
                    "source.ip": src,
                }
            )
        elif kind == "flow":
            event.update(
                {
                    "event.dataset": "pcap",
                    "event.kind": "event",
                    "event.category": ["network"],
                    "source.ip": src,
                    "destination.ip": f"10.9.1.{rng.randint(1, 25)}",
                    "destination.port": rng.choice((22, 80, 443, 445, *range(1000, 1030))),
                }
            )
        elif kind == "dns":
            event.update(
                {
                    "event.dataset": "pcap",
                    "network.protocol": "dns",
                    "dns.type": rng.choice(("query", "query", "answer")),
                    "source.ip": src,
                    "dns.question.name": f"h{rng.randint(1, 80)}.Example.ORG",
                }
            )
        else:
            event.update(
                {
                    "event.dataset": "gateway.audit",
                    "observer.product": "tulou-gateway",
                    "event.outcome": rng.choice(("failure", "success")),
                    "source.ip": src,
                    "user.name": rng.choice(("alice", "bob")),
                    "tls.client.hash.sha256": rng.choice("ABCD") * 64,
                    "tulou.token.id": f"tok-{rng.randint(1, 30)}",
                }
            )
        events.append(event)
    return events


@pytest.mark.parametrize("seed", [1, 2])
def test_correlations_equivalent_on_random_traffic(
    corpus: RuleSet, pipeline: Any, elasticsearch_url: str, seed: int
) -> None:
    events = _noise(seed)
    sqlite = SQLiteStore(":memory:")
    es = ElasticsearchStore(elasticsearch_url, index=f"test-rules-noise-{uuid.uuid4().hex[:8]}")
    try:
        assert sqlite.write(events).stored == len(events)
        assert es.write(events).stored == len(events)
        start = datetime(2025, 6, 1, tzinfo=UTC)
        end = start + timedelta(hours=1)
        results = {}
        for target in (SqliteRuleTarget(sqlite, pipeline), EsRuleTarget.for_store(es, pipeline)):
            compilation = compile_rules(corpus, target.name, target.backend)
            results[target.name] = _alerts(run_rules(compilation, target, start, end))
        assert results["sqlite"] == results["elasticsearch"]
        correlation_ids = {r.rule_id for r in corpus.rules if r.is_correlation}
        assert len({a[0] for a in results["sqlite"]} & correlation_ids) >= 3
        # The chained correlation (event_count -> temporal_ordered) agrees on both stores too.
        assert "89146dca-0fc3-54da-8fc0-552a329c57a7" in {a[0] for a in results["sqlite"]}
    finally:
        sqlite.close()
        es.client.indices.delete(index=es.index, ignore_unavailable=True)
        es.client.indices.delete_index_template(name=es.index)
        es.client.close()
