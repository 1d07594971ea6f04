"""Play scenarios and prove detection end to end: play -> ingest -> rules -> SOC -> check.

For each scenario, in order:

1. wait until the wall clock has passed the previous scenario's window, so time windows never
   overlap (syslog stamps have one-second precision, hence whole seconds);
2. ``play()`` it; when it drives the live range, the gateway's audit lines written meanwhile are
   copied next to its other artifacts;
3. ingest every artifact into the run's event store (SQLite or Elasticsearch) with detect's own
   parsers, dead-letter file and spool;
4. evaluate every rule of ``rules/`` over the scenario's window ``[start, end)`` and deliver the
   alerts to the SOC over its ingest API (as ``tulou detect run --sink http://soc`` does);
5. read the SOC's alert queue back (as the analyst) and look for an alert of every expected rule;
   time to detect = from the start of play to the moment the SOC lists them all.

A scenario passes when every expected rule's alert is in the SOC; a benign scenario passes when
the rules raised nothing at all over its window. Alerts of other rules during an attack are
reported ("also") but do not fail it.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.scenarios.base import Scenario, Stage
from lab.soc_service import LabSoc
from tulou.errors import TulouError

if TYPE_CHECKING:
    from lab.range import CityRange

#: The gateway flushes each audit line before it answers; a short grace for the OS.
AUDIT_SETTLE_SECONDS = 0.1


@dataclass
class Outcome:
    """What one scenario produced, for the purple-team table and ``--json``."""

    name: str
    title: str
    techniques: tuple[str, ...]
    expected: dict[str, str]  # rule id -> title
    found: dict[str, str] = field(default_factory=dict)
    also: dict[str, str] = field(default_factory=dict)  # fired but not expected
    alerts: int = 0
    events: int = 0
    dead_lettered: int = 0
    seconds_to_detect: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def benign(self) -> bool:
        return not self.expected

    @property
    def missing(self) -> dict[str, str]:
        return {k: v for k, v in self.expected.items() if k not in self.found}

    @property
    def ok(self) -> bool:
        if self.error is not None:
            return False
        if self.benign:
            return self.alerts == 0
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "title": self.title,
            "techniques": list(self.techniques),
            "ok": self.ok,
            "benign": self.benign,
            "expected": self.expected,
            "found": self.found,
            "missing": self.missing,
            "also": self.also,
            "alerts": self.alerts,
            "events": self.events,
            "dead_lettered": self.dead_lettered,
            "seconds_to_detect": self.seconds_to_detect,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            "error": self.error,
        }


class Detection:
    """detect's ingest and rule evaluation, in-process, on one store, delivering to the SOC."""

    def __init__(self, store_url: str, soc: LabSoc, rules_dir: Path, state_dir: Path) -> None:
        from detect.alerts.http import HttpAlertSink  # noqa: PLC0415 - heavy imports
        from detect.parsers import default_registry  # noqa: PLC0415
        from detect.rules.loader import load_rules  # noqa: PLC0415
        from detect.rules.pipelines import combined, load_pipelines  # noqa: PLC0415
        from detect.stores import open_store  # noqa: PLC0415

        self.store_url = store_url
        self.store = open_store(store_url)
        self.parsers = default_registry()
        self.ruleset = load_rules([rules_dir])
        self.titles = {r.rule_id: r.title for r in self.ruleset.rules}
        self.pipeline = combined(load_pipelines().values())
        self.sink = HttpAlertSink(soc.url, soc.service_token)
        self.state_dir = state_dir

    def title(self, rule_id: str) -> str:
        return self.titles.get(rule_id, "(rule not in rules/)")

    def ingest(self, stage: Stage) -> tuple[int, int]:
        """Every artifact into the store; returns (events stored, dead-lettered)."""
        from detect.deadletter import DeadLetterFile  # noqa: PLC0415
        from detect.ingest import Ingestor  # noqa: PLC0415
        from detect.spool import BufferedWriter, Spool  # noqa: PLC0415

        writer = BufferedWriter(self.store, Spool(self.state_dir / "spool"))
        dead = DeadLetterFile(self.state_dir / "dead-letter.ndjson")
        ingestor = Ingestor(writer, dead)
        for artifact in stage.artifacts:
            ingestor.ingest_path(artifact.path, self.parsers, artifact.format)
        summary = ingestor.finish(drain_timeout=30.0)
        dead.close()
        if summary.buffered:
            raise TulouError(f"{summary.buffered} events still buffered: the store is down")
        return summary.stored + summary.duplicates + summary.collisions, summary.dead_lettered

    def detect(self, start: datetime, end: datetime) -> Any:
        """Run every rule over [start, end) and deliver to the SOC (a ``StepResult``)."""
        from detect.rules.compile import compile_rules  # noqa: PLC0415
        from detect.rules.targets import target_for  # noqa: PLC0415
        from detect.rules.watch import run_range  # noqa: PLC0415

        target = target_for(self.store_url, self.store, self.pipeline)
        compilation = compile_rules(self.ruleset, target.name, target.backend)
        return run_range(compilation, target, self.sink, start, end)

    def close(self) -> None:
        self.sink.close()
        self.store.close()


def _wait_past(moment: datetime) -> datetime:
    """Sleep until the clock is past ``moment`` rounded up to a whole second; return now."""
    ceiling = datetime.fromtimestamp(math.ceil(moment.timestamp()), UTC)
    while (now := datetime.now(UTC)) < ceiling:
        time.sleep(min(0.05, (ceiling - now).total_seconds()) + 0.001)
    return now


def _audit_slice(city: CityRange, offset: int, target: Path) -> Path | None:
    time.sleep(AUDIT_SETTLE_SECONDS)
    path = Path(city.audit_path)
    if not path.exists():
        return None
    with path.open("rb") as source:
        source.seek(offset)
        data = source.read()
    if not data:
        return None
    target.write_bytes(data[: data.rfind(b"\n") + 1])
    return target


def _audit_offset(city: CityRange | None) -> int:
    if city is None:
        return 0
    path = Path(city.audit_path)
    return path.stat().st_size if path.exists() else 0


def _in_soc(soc: LabSoc, rule_ids: Sequence[str], since: datetime, timeout: float) -> set[str]:
    """The expected rule ids the SOC lists with an alert last seen since ``since``."""
    wanted = set(rule_ids)
    deadline = time.monotonic() + timeout
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    while True:
        found = {a["rule_id"] for a in soc.alerts(since=stamp) if a.get("rule_id") in wanted}
        if found == wanted or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def run_one(
    scenario: Scenario,
    *,
    detection: Detection,
    soc: LabSoc,
    workdir: Path,
    city: CityRange | None,
    not_before: datetime,
    env: dict[str, str],
) -> tuple[Outcome, datetime]:
    """Play, ingest, detect, check one scenario; returns its outcome and its window's end."""
    outcome = Outcome(
        scenario.name,
        scenario.title,
        scenario.techniques,
        {rid: detection.title(rid) for rid in scenario.expects},
    )
    start = _wait_past(not_before)
    window_start = start.replace(microsecond=0)
    began = time.monotonic()
    scenario_dir = workdir / scenario.name
    shutil.rmtree(scenario_dir, ignore_errors=True)
    scenario_dir.mkdir(parents=True)
    stage = Stage(workdir=scenario_dir, city=city if scenario.needs_range else None, env=env)
    end = start
    try:
        if scenario.needs_range and city is None:
            raise TulouError("this scenario needs the city range, which is not running")
        offset = _audit_offset(stage.city)
        scenario.play(stage)
        if stage.city is not None:
            audit = _audit_slice(stage.city, offset, scenario_dir / "gateway-audit.jsonl")
            if audit is not None:
                stage.artifact(audit, "gateway.audit")
        outcome.events, outcome.dead_lettered = detection.ingest(stage)
        end = datetime.now(UTC) + timedelta(seconds=1)
        step = detection.detect(window_start, end)
        fired = {a.rule_id: a.title for a in step.run.alerts}
        outcome.alerts = len(step.run.alerts)
        outcome.also = {k: v for k, v in fired.items() if k not in outcome.expected}
        in_soc = _in_soc(soc, [r for r in outcome.expected if r in fired], window_start, 10.0)
        outcome.found = {rid: outcome.expected[rid] for rid in sorted(in_soc)}
        if outcome.expected and not outcome.missing:
            outcome.seconds_to_detect = round(time.monotonic() - began, 2)
    except TulouError as exc:
        outcome.error = str(exc)
    outcome.notes = stage.notes
    outcome.seconds = time.monotonic() - began
    return outcome, max(end, datetime.now(UTC))


def run_scenarios(
    scenarios: Sequence[Scenario],
    *,
    detection: Detection,
    soc: LabSoc,
    workdir: Path,
    city: CityRange | None,
    env: dict[str, str],
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run ``scenarios`` in order on one store and one SOC; never stops at a failure."""
    outcomes: list[Outcome] = []
    not_before = datetime.now(UTC)
    for scenario in scenarios:
        outcome, not_before = run_one(
            scenario,
            detection=detection,
            soc=soc,
            workdir=workdir,
            city=city,
            not_before=not_before,
            env=env,
        )
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes
