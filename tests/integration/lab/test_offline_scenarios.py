"""The offline scenarios (logs and pcaps, no range) through the real detect code and ALL rules.

Each test plays a scenario into a temp directory, ingests its artifacts with detect's own
parsers into a temp SQLite store (dead letters counted), runs every rule of ``rules/`` over the
scenario's window and compares the fired rule ids with the scenario's ``expects``:

- every expected rule fires;
- nothing fires that is not expected, except the extras listed here with the reason (an extra
  would otherwise signal a crafting mistake, e.g. a scan that looks like a sweep);
- the benign day fires nothing at all;
- nothing is dead-lettered: every crafted line and packet is in a format detect reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detect.alerts.memory import MemoryAlertSink
from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.parsers import default_registry
from detect.rules.compile import compile_rules
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.rules.watch import run_range
from detect.spool import BufferedWriter, Spool
from detect.stores import open_store
from lab.scenarios import all_scenarios, benign, credentials, host, network, ransomware
from lab.scenarios.base import Scenario, Stage

RULES = Path(__file__).resolve().parents[3] / "rules"


@dataclass
class Played:
    fired: set[str]
    events: int
    dead: int
    seconds: float
    stage: Stage
    alerts: int = 0  # alerts raised, all rules together


def play_and_detect(scenario: Scenario, tmp_path: Path) -> Played:
    """Play, ingest, run every rule over ``[start of play, now + 1 s)``; what fired."""
    workdir = tmp_path / scenario.name
    workdir.mkdir()
    stage = Stage(workdir=workdir)
    start = datetime.now(UTC).replace(microsecond=0)
    began = time.monotonic()
    scenario.play(stage)
    seconds = time.monotonic() - began
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    dead = DeadLetterFile(tmp_path / "dead-letter.ndjson")
    ingestor = Ingestor(BufferedWriter(store, Spool(tmp_path / "spool")), dead)
    parsers = default_registry()
    for artifact in stage.artifacts:
        ingestor.ingest_path(artifact.path, parsers, artifact.format)
    summary = ingestor.finish(drain_timeout=10.0)
    dead.close()
    assert summary.buffered == 0
    target = SqliteRuleTarget(store, combined(load_pipelines().values()))  # type: ignore[arg-type]
    compilation = compile_rules(load_rules([RULES]), target.name, target.backend)
    assert not compilation.problems, compilation.problems
    sink = MemoryAlertSink()
    step = run_range(compilation, target, sink, start, datetime.now(UTC) + timedelta(seconds=1))
    store.close()
    return Played(
        {a.rule_id for a in step.run.alerts},
        summary.stored,
        summary.dead_lettered,
        seconds,
        stage,
        alerts=len(step.run.alerts),
    )


def check_attack(scenario: Scenario, played: Played, extras: frozenset[str] = frozenset()) -> None:
    assert played.dead == 0, "a crafted line or packet was dead-lettered"
    assert set(scenario.expects) <= played.fired, f"missing {set(scenario.expects) - played.fired}"
    assert played.fired - set(scenario.expects) - extras == set()
    assert played.seconds < (15.0 if scenario.name == "ransomware" else 5.0)


def test_credential_stuffing(tmp_path: Path) -> None:
    scenario = credentials.CredentialStuffing()
    played = play_and_detect(scenario, tmp_path)
    check_attack(scenario, played)
    assert 14 <= played.events <= 100


def test_password_spraying(tmp_path: Path) -> None:
    scenario = credentials.PasswordSpraying()
    played = play_and_detect(scenario, tmp_path)
    check_attack(scenario, played)
    # Under the brute-force threshold (fewer than ten failures) by design.
    assert credentials.BRUTE_FORCE not in played.fired


def test_port_scan(tmp_path: Path) -> None:
    scenario = network.PortScan()
    played = play_and_detect(scenario, tmp_path)
    check_attack(scenario, played)
    assert played.events == len(network.SCAN_PORTS)  # one flow per probe


def test_host_sweep(tmp_path: Path) -> None:
    scenario = network.HostSweep()
    played = play_and_detect(scenario, tmp_path)
    check_attack(scenario, played)
    assert network.PORT_SCAN not in played.fired


def test_dns_tunnelling(tmp_path: Path) -> None:
    scenario = network.DnsTunnelling()
    played = play_and_detect(scenario, tmp_path)
    check_attack(scenario, played)
    # One alert per rule for the whole exfiltration (was one per query and response: 132).
    assert played.alerts == len(scenario.expects)


def test_linux_commands(tmp_path: Path) -> None:
    scenario = host.LinuxCommands()
    played = play_and_detect(scenario, tmp_path)
    check_attack(scenario, played)
    assert played.events == len(host.STEPS) + 2


@pytest.mark.slow
def test_ransomware_then_recovery_drill(tmp_path: Path) -> None:
    scenario = ransomware.Ransomware()
    played = play_and_detect(scenario, tmp_path)
    check_attack(scenario, played)
    # The share holds the originals again, the locked copies and notes are gone.
    share = tmp_path / scenario.name / "share"
    back = {str(p.relative_to(share)): p.read_bytes() for p in share.rglob("*") if p.is_file()}
    assert back == ransomware.city_files()
    drill_notes = [n for n in played.stage.notes if n.startswith("drill passed")]
    assert len(drill_notes) == 1 and "RTO" in drill_notes[0] and "RPO" in drill_notes[0]
    # The policy names the passphrase's variable, never a value.
    policy = (tmp_path / scenario.name / "backup-policy.toml").read_text()
    assert 'passphrase_env = "TULOU_BACKUP_PASSPHRASE"' in policy
    assert "passphrase =" not in policy


def test_benign_day_raises_nothing(tmp_path: Path) -> None:
    scenario = benign.BenignDay()
    assert scenario.benign
    played = play_and_detect(scenario, tmp_path)
    assert played.dead == 0
    assert played.fired == set()
    assert 100 <= played.events <= 400  # a real day's sample, not an empty one
    assert played.seconds < 5.0


def test_offline_scenarios_are_registered_and_expect_alerting_rules() -> None:
    """Every expected id is a rule in rules/ that raises alerts (no informational base rule)."""
    ruleset = load_rules([RULES])
    levels = {r.rule_id: r.level for r in ruleset.rules}
    names = {s.name for s in all_scenarios()}
    for module in (credentials, network, host, ransomware, benign):
        for cls in module.SCENARIOS:
            assert cls.name in names
            assert not cls.needs_range
            for rule_id in cls.expects:
                assert levels.get(rule_id) not in (None, "informational"), (cls.name, rule_id)
