"""``detect run`` and ``detect watch``: evaluate, deliver, and remember where we were.

The checkpoint (JSON, written atomically: temp file + rename) holds ``until`` (the end of the
last range whose alerts were delivered), the correlation floors, the suppression state and the
ids of alerts delivered inside the lookback. A step evaluates ``[until - lookback, now)``: the
overlap catches events that arrived late (ingest lag, store refresh), and cannot duplicate an
alert because (1) base-rule alert ids are deterministic and delivered ids in the overlap are
skipped, and (2) correlation windows never reuse events an earlier run already fired on.
The checkpoint is saved only after the sink accepted the alerts: a failed delivery re-runs the
same range next time (at-least-once delivery, made exactly-once by the sinks' idempotence).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from detect.alerts.base import AlertSink, DeliveryResult
from detect.rules.compile import Compilation
from detect.rules.evaluate import RunResult, run_rules
from detect.rules.state import CorrelationFloors, SuppressionState
from detect.rules.targets import RuleTarget
from tulou.errors import InputError
from tulou.events import format_timestamp, parse_timestamp


@dataclass
class Checkpoint:
    """The watch state; on disk ``{"until", "floors", "last_alerted", "delivered"}`` (JSON)."""

    until: str | None = None
    floors: CorrelationFloors = field(default_factory=CorrelationFloors)
    suppression: SuppressionState = field(default_factory=SuppressionState)
    delivered: dict[str, str] = field(default_factory=dict)  # alert id -> first_seen

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            unknown = set(data) - {"until", "floors", "last_alerted", "delivered"}
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
            return cls(
                until=data.get("until"),
                floors=CorrelationFloors.from_json(data.get("floors")),
                suppression=SuppressionState.from_json(data.get("last_alerted")),
                delivered={str(k): str(v) for k, v in dict(data.get("delivered") or {}).items()},
            )
        except (OSError, ValueError, TypeError, AttributeError, InputError) as exc:
            raise InputError(f"unreadable watch checkpoint: {exc}", location=str(path)) from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "until": self.until,
            "floors": self.floors.to_json(),
            "last_alerted": self.suppression.to_json(),
            "delivered": self.delivered,
        }
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)


@dataclass
class StepResult:
    start: datetime
    end: datetime
    run: RunResult
    delivery: DeliveryResult

    def summary(self) -> dict[str, object]:
        return {
            "start": format_timestamp(self.start),
            "end": format_timestamp(self.end),
            **self.run.summary(),
            "delivered": self.delivery.delivered,
            "duplicates": self.delivery.duplicates,
        }


def run_range(
    compilation: Compilation, target: RuleTarget, sink: AlertSink, start: datetime, end: datetime
) -> StepResult:
    """``detect run``: evaluate once over ``[start, end)`` and deliver."""
    run = run_rules(compilation, target, start, end)
    return StepResult(start, end, run, sink.deliver(run.alerts))


def watch_step(
    compilation: Compilation,
    target: RuleTarget,
    sink: AlertSink,
    *,
    checkpoint_path: Path,
    now: datetime,
    lookback: timedelta,
    first_start: datetime,
) -> StepResult:
    """One ``detect watch`` iteration (see the module docstring)."""
    checkpoint = Checkpoint.load(checkpoint_path)
    start = parse_timestamp(checkpoint.until) - lookback if checkpoint.until else first_start
    floors, suppression = checkpoint.floors.copy(), checkpoint.suppression.copy()
    run = run_rules(
        compilation,
        target,
        start,
        now,
        floors=floors,
        suppression=suppression,
        already=set(checkpoint.delivered),
    )
    delivery = sink.deliver(run.alerts)
    horizon = format_timestamp(start)
    delivered = {k: v for k, v in checkpoint.delivered.items() if v >= horizon}
    delivered.update({a.alert_id: a.first_seen for a in run.alerts})
    Checkpoint(format_timestamp(now), floors, suppression, delivered).save(checkpoint_path)
    return StepResult(start, now, run, delivery)
