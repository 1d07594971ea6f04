"""Every city-range scenario end to end: play on the live range -> real detect -> real rules.

One range for the module. Each scenario is played into its own directory; the gateway audit
lines written meanwhile are copied next to its artifacts (as ``lab.runner`` does), everything is
ingested with detect's parsers into a fresh SQLite store and every rule of ``rules/`` runs over
the play window. An attack must raise its ``expects`` (and, these being precise, nothing else);
the benign day must raise nothing at all. Nothing may be dead-lettered (the formats are real).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.parsers import default_registry
from detect.rules.compile import compile_rules
from detect.rules.evaluate import run_rules
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.spool import BufferedWriter, Spool
from detect.stores.sqlite import SQLiteStore
from lab.range import CityRange
from lab.scenarios import benign_gateway, gateway_identity, system_to_system, web_attacks
from lab.scenarios.base import Scenario, Stage

pytestmark = pytest.mark.slow

RULES = Path(__file__).resolve().parents[3] / "rules"
SCENARIOS: list[type[Scenario]] = [
    *gateway_identity.SCENARIOS,
    *web_attacks.SCENARIOS,
    *system_to_system.SCENARIOS,
    *benign_gateway.SCENARIOS,
]


@dataclass
class Played:
    stage: Stage
    fired: dict[str, str] = field(default_factory=dict)
    events: int = 0
    dead: int = 0


def play_and_detect(scenario: Scenario, city: CityRange, workdir: Path) -> Played:
    """Play ``scenario``, collect the audit slice, ingest everything, run every rule."""
    stage = Stage(workdir=workdir / "artifacts", city=city)
    stage.workdir.mkdir(parents=True)
    offset = city.audit_path.stat().st_size if city.audit_path.exists() else 0
    start = datetime.now(UTC).replace(microsecond=0)
    scenario.play(stage)
    with city.audit_path.open("rb") as audit:  # flushed before each response: no waiting
        audit.seek(offset)
        data = audit.read()
    if data:
        sliced = stage.workdir / "gateway-audit.jsonl"
        sliced.write_bytes(data[: data.rfind(b"\n") + 1])
        stage.artifact(sliced, "gateway.audit")
    store = SQLiteStore(workdir / "events.db")
    try:
        dead = DeadLetterFile(workdir / "dead-letter.ndjson")
        ingestor = Ingestor(BufferedWriter(store, Spool(workdir / "spool")), dead)
        registry = default_registry()
        for artifact in stage.artifacts:
            ingestor.ingest_path(artifact.path, registry, artifact.format)
        summary = ingestor.finish(drain_timeout=10.0)
        dead.close()
        target = SqliteRuleTarget(store, combined(load_pipelines().values()))
        compilation = compile_rules(load_rules([RULES]), target.name, target.backend)
        run = run_rules(compilation, target, start, datetime.now(UTC) + timedelta(seconds=1))
    finally:
        store.close()
    fired = {alert.rule_id: alert.title for alert in run.alerts}
    return Played(stage, fired, summary.stored, summary.dead_lettered)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CityRange]:
    with CityRange(tmp_path_factory.mktemp("range")) as running:
        yield running


def test_scenario_contract() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(set(names)) == len(names)
    ids = {r.rule_id for r in load_rules([RULES]).rules}
    for scenario in SCENARIOS:
        assert scenario.needs_range
        assert set(scenario.expects) <= ids, scenario.name
    assert [s.name for s in SCENARIOS if not s.expects] == ["benign-gateway-day"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_raises_what_it_expects(
    scenario: type[Scenario], city: CityRange, tmp_path: Path
) -> None:
    played = play_and_detect(scenario(), city, tmp_path)
    assert played.events > 0 and played.dead == 0
    formats = {a.format for a in played.stage.artifacts}
    assert "gateway.audit" in formats
    if scenario.expects:
        missing = set(scenario.expects) - set(played.fired)
        assert not missing, f"missing {missing}; fired {played.fired}"
        # These scenarios are precise: nothing fires beyond what they expect (an extra alert
        # would be allowed by the contract, but then it must be explained in the scenario).
        extra = {k: v for k, v in played.fired.items() if k not in scenario.expects}
        assert not extra, f"unexplained extra alerts {extra}"
    else:
        assert played.fired == {}, f"a benign day raised {played.fired}"
        assert "web" in formats  # the apps' access logs were collected too
