"""detect run / watch on the real SQLite store: checkpoint, lookback overlap, no duplicates,
late events caught, suppression windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detect.alerts.memory import MemoryAlertSink
from detect.rules.compile import compile_rules
from detect.rules.loader import RuleSet, load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.rules.watch import Checkpoint, watch_step
from detect.stores.sqlite import SQLiteStore
from tulou.events import event_id, format_timestamp

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def _ssh(n: int, at: datetime, ok: bool = False, ip: str = "198.51.100.23") -> dict[str, Any]:
    return {
        "@timestamp": format_timestamp(at),
        "event.id": event_id("watch", n),
        "event.original": f"line {n}",
        "event.dataset": "auth",
        "event.action": "ssh_login",
        "event.outcome": "success" if ok else "failure",
        "user.name": "root",
        "source.ip": ip,
    }


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    rules = load_rules(
        [ROOT / "rules" / "ssh-brute-force.yml", ROOT / "rules" / "ssh-root-login.yml"]
    )
    store = SQLiteStore(":memory:")
    target = SqliteRuleTarget(store, combined(load_pipelines().values()))
    compilation = compile_rules(rules, "sqlite", target.backend)
    assert not compilation.problems
    yield store, target, compilation, tmp_path / "watch.json"
    store.close()


def test_overlapping_runs_never_duplicate_and_catch_late_events(setup: Any) -> None:
    store, target, compilation, checkpoint = setup
    sink = MemoryAlertSink()
    lookback = timedelta(minutes=5)
    store.write([_ssh(i, T0 + timedelta(seconds=10 * i)) for i in range(12)])
    store.write([_ssh(100, T0 + timedelta(seconds=30), ok=True)])
    first = watch_step(
        compilation,
        target,
        sink,
        checkpoint_path=checkpoint,
        now=T0 + timedelta(minutes=3),
        lookback=lookback,
        first_start=T0,
    )
    assert first.run.summary()["alerts"] == 2  # one brute force window + one root login
    # Same range again (full overlap): nothing new, nothing re-delivered.
    second = watch_step(
        compilation,
        target,
        sink,
        checkpoint_path=checkpoint,
        now=T0 + timedelta(minutes=4),
        lookback=lookback,
        first_start=T0,
    )
    assert second.run.alerts == [] and second.delivery.delivered == 0
    # A late event inside the overlap is caught; a new burst fires a second window only.
    store.write([_ssh(101, T0 + timedelta(minutes=3, seconds=30), ok=True)])
    store.write([_ssh(200 + i, T0 + timedelta(minutes=6, seconds=i)) for i in range(10)])
    third = watch_step(
        compilation,
        target,
        sink,
        checkpoint_path=checkpoint,
        now=T0 + timedelta(minutes=8),
        lookback=lookback,
        first_start=T0,
    )
    assert sorted(a.title for a in third.run.alerts) == [
        "SSH brute force from one address",
        "Successful SSH login as root",
    ]
    assert len(sink.alerts()) == 4
    saved = Checkpoint.load(checkpoint)
    assert saved.until == format_timestamp(T0 + timedelta(minutes=8))


def test_suppression_window_drops_repeats(setup: Any, tmp_path: Path) -> None:
    store, target, _, checkpoint = setup
    text = (
        ROOT / "rules" / "ssh-root-login.yml"
    ).read_text() + "suppression: 10m\nfields:\n- source.ip\n"
    path = tmp_path / "ssh-root-login.yml"
    path.write_text(text)
    compilation = compile_rules(load_rules([path]), "sqlite", target.backend)
    store.write([_ssh(300 + i, T0 + timedelta(minutes=i * 4), ok=True) for i in range(4)])
    step = watch_step(
        compilation,
        target,
        MemoryAlertSink(),
        checkpoint_path=checkpoint,
        now=T0 + timedelta(hours=1),
        lookback=timedelta(minutes=5),
        first_start=T0,
    )
    # Logins at 0, 4, 8, 12 minutes: 0 alerts, 4 and 8 fall in its window, 12 starts anew.
    assert [a.first_seen for a in step.run.alerts] == [
        format_timestamp(T0),
        format_timestamp(T0 + timedelta(minutes=12)),
    ]
    assert step.run.suppressed == 2


def test_checkpoint_unreadable_is_an_input_error(tmp_path: Path) -> None:
    from tulou.errors import InputError

    bad = tmp_path / "watch.json"
    bad.write_text("{not json")
    with pytest.raises(InputError):
        Checkpoint.load(bad)


def test_rule_set_type() -> None:
    assert isinstance(load_rules([]), RuleSet)
