"""Play a range scenario and detect on what it left, the way the lab runner does (for the tests).

``play_and_detect`` records the gateway audit offset, plays the scenario, copies the audit lines
written meanwhile next to the scenario's artifacts (format ``gateway.audit``), ingests every
artifact with detect's real parsers into a fresh SQLite store, runs every rule of ``rules/``
over the play window and returns the fired rule ids with their titles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from lab.scenarios.base import Scenario, Stage

RULES = Path(__file__).resolve().parents[3] / "rules"


@dataclass
class Played:
    stage: Stage
    fired: dict[str, str] = field(default_factory=dict)
    events: int = 0
    dead: int = 0


def play_and_detect(scenario: Scenario, city: CityRange, workdir: Path) -> Played:
    workdir.mkdir(parents=True, exist_ok=True)
    stage = Stage(workdir=workdir / "artifacts", city=city)
    stage.workdir.mkdir(parents=True, exist_ok=True)
    offset = city.audit_path.stat().st_size if city.audit_path.exists() else 0
    start = datetime.now(UTC).replace(microsecond=0)
    scenario.play(stage)
    with city.audit_path.open("rb") as audit:
        audit.seek(offset)
        data = audit.read()
    if data:
        target = stage.workdir / "gateway-audit.jsonl"
        target.write_bytes(data[: data.rfind(b"\n") + 1])
        stage.artifact(target, "gateway.audit")
    store = SQLiteStore(workdir / "events.db")
    try:
        dead = DeadLetterFile(workdir / "dead-letter.ndjson")
        ingestor = Ingestor(BufferedWriter(store, Spool(workdir / "spool")), dead)
        registry = default_registry()
        for artifact in stage.artifacts:
            ingestor.ingest_path(artifact.path, registry, artifact.format)
        summary = ingestor.finish(drain_timeout=10.0)
        dead.close()
        target_ = SqliteRuleTarget(store, combined(load_pipelines().values()))
        compilation = compile_rules(load_rules([RULES]), target_.name, target_.backend)
        end = datetime.now(UTC) + timedelta(seconds=1)
        run = run_rules(compilation, target_, start, end)
    finally:
        store.close()
    return Played(
        stage,
        {alert.rule_id: alert.title for alert in run.alerts},
        summary.stored,
        summary.dead_lettered,
    )
