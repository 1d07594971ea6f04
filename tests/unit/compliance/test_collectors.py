"""Collectors: one conformance suite over every implementation, then each on seeded data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from compliance.collectors.backup import BackupCollector
from compliance.engine import default_collectors
from compliance.evidence import (
    Collector,
    CollectorRegistry,
    Evidence,
    EvidenceBag,
    StaticCollector,
)
from compliance.period import parse_period
from compliance.sources import load_sources
from tests.unit.compliance.seed_data import PERIOD, seed
from tulou.errors import ConfigError, UsageError
from tulou.settings import load_settings

SPAN = parse_period(PERIOD)


def collectors_for(root: Path, **knobs: object) -> list[Collector]:
    seeded = seed(root, **knobs)  # type: ignore[arg-type]
    settings = load_settings(None, data_dir=root / "var")
    registry = default_collectors(settings, load_sources(settings, seeded.sources))
    return registry.collectors()


def empty_collectors(root: Path) -> list[Collector]:
    settings = load_settings(None, data_dir=root / "nothing-here")
    registry = default_collectors(settings, load_sources(settings))
    return registry.collectors()


def fake(root: Path) -> list[Collector]:
    return [StaticCollector("fake", [Evidence("fake.one", "fake", "One", {"n": 1})])]


@pytest.mark.parametrize(
    "build", [collectors_for, empty_collectors, fake], ids=["seeded", "no-sources", "fake"]
)
def test_conformance(tmp_path: Path, build: Callable[[Path], list[Collector]]) -> None:
    for collector in build(tmp_path):
        assert isinstance(collector, Collector)
        found = collector.collect(SPAN)
        assert sorted(e.key for e in found) == sorted(collector.keys), collector.id
        for item in found:
            json.dumps(item.to_dict(), ensure_ascii=False)  # facts are JSON values
            assert item.available or item.problem, item.key
            assert not (not item.available and item.facts)


def test_sources_missing_make_evidence_unavailable_not_errors(tmp_path: Path) -> None:
    for collector in empty_collectors(tmp_path):
        for item in collector.collect(SPAN):
            if collector.id in ("gateway", "retention", "backup"):
                assert not item.available, item.key
    assert not (tmp_path / "nothing-here" / "detect" / "events.db").exists()  # never created


def test_registry_collects_problems_and_refuses_duplicates() -> None:
    class Broken:
        id: str = "broken"
        keys: tuple[str, ...] = ("broken.a", "broken.b")

        def collect(self, period: object) -> list[Evidence]:
            raise ConfigError("bad config")

    registry = CollectorRegistry()
    registry.register(Broken())
    registry.register(StaticCollector("ok", [Evidence("ok.x", "ok", "X", {"v": 1})]))
    with pytest.raises(UsageError):
        registry.register(StaticCollector("ok", []))
    bag = registry.collect(SPAN)
    assert not bag["broken.a"].available and "bad config" in bag["broken.a"].problem
    assert bag["ok.x"].available
    with pytest.raises(UsageError):
        EvidenceBag([bag["ok.x"], bag["ok.x"]])


def _bag(tmp_path: Path, **knobs: object) -> EvidenceBag:
    registry = CollectorRegistry()
    for collector in collectors_for(tmp_path, **knobs):
        registry.register(collector)
    return registry.collect(SPAN)


def test_seeded_facts(tmp_path: Path) -> None:
    bag = _bag(tmp_path)
    decisions = bag["gateway.decisions"].facts
    # 12 allowed + 1 denied in the period; the older decision and the bad line do not count.
    assert (decisions["total"], decisions["allowed"], decisions["denied"]) == (13, 12, 1)
    assert decisions["default_deny"] is True
    assert bag["gateway.coverage"].facts["share"] == 1.0
    assert bag["detect.rules"].facts["enabled"] == 3
    assert bag["detect.attack"].facts["technique_ids"] == ["T1059", "T1110.001", "T1566"]
    assert bag["detect.retention"].facts["days_held"] >= 199
    incidents = bag["soc.incidents"].facts
    assert incidents["by_grade"]["较大"] == 1 and incidents["on_time"] == 1
    assert bag["soc.audit_chain"].facts["ok"] is True
    assert bag["soc.roles"].facts["distinct_roles"] == 3
    assert bag["backup.drills"].facts["drills"][0]["signature_ok"] is True
    assert bag["crypto.inventory"].facts["non_sm"] == []


def test_seeded_failures(tmp_path: Path) -> None:
    bag = _bag(
        tmp_path,
        apps=4,
        mtls_everywhere=False,
        rsa_tls=True,
        reported_on_time=False,
        tamper_audit=True,
        retention_days_held=50,
    )
    assert bag["gateway.coverage"].facts["missing"] == ["legacy-archive"]
    assert bag["gateway.mtls"].facts["routes_without_client_cert"] == ["tax"]
    assert bag["crypto.inventory"].facts["non_sm"] == ["gateway-tls-cert"]
    assert bag["soc.incidents"].facts["late"] == 1
    chain = bag["soc.audit_chain"].facts
    assert chain["ok"] is False and chain["problems"][0]["seq"] == 2
    assert bag["detect.retention"].facts["days_held"] < 183


def test_a_tampered_drill_record_is_flagged(tmp_path: Path) -> None:
    seeded = seed(tmp_path)
    (path,) = seeded.drill_dir.glob("drill-*.json")
    record = json.loads(path.read_text())
    record["rto"]["achieved_seconds"] = 1
    path.write_text(json.dumps(record))
    drills = BackupCollector(None, seeded.drill_dir).collect(SPAN)[1].facts["drills"]
    assert drills[0]["signature_ok"] is False
    assert "does not verify" in drills[0]["signature_problem"]
