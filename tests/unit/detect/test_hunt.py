"""``detect hunt``: the timeline and table (pure), and the command end to end on the EVTX
corpus with SigmaHQ's own Security rules (read in place)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from detect.hunt import TIMELINE_COLUMNS, by_rule, evidence_files, timeline, write_csv
from tulou.cli import main
from tulou.contracts.alert import Alert


def _alert(rule: str, level: str, ids: tuple[str, ...], at: str) -> Alert:
    return Alert(rule, "h", f"title {rule}", level, ids, f"k{rule}", at, at)  # type: ignore[arg-type]


def test_the_timeline_has_a_row_per_alert_and_event_oldest_first() -> None:
    alerts = [
        _alert("r1", "low", ("e2", "e1"), "2026-03-01T00:00:05.000Z"),
        _alert("r2", "high", ("e1",), "2026-03-01T00:00:01.000Z"),
    ]
    events = {
        "e1": {"@timestamp": "2026-03-01T00:00:01.000Z", "host.name": "ws1", "event.code": "1"},
        "e2": {"@timestamp": "2026-03-01T00:00:05.000Z", "event.original": "x" * 5000},
    }
    rows = timeline(alerts, events)
    assert [(r["event_id"], r["rule_id"]) for r in rows] == [
        ("e1", "r1"),
        ("e1", "r2"),
        ("e2", "r1"),
    ]
    assert rows[0]["host"] == "ws1" and rows[0]["event_code"] == "1"
    assert len(rows[2]["details"]) == 1000
    out = io.StringIO()
    write_csv(out, rows)
    back = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(back[0]) == TIMELINE_COLUMNS
    assert back == rows


def test_the_table_puts_the_most_severe_first() -> None:
    alerts = [
        _alert("a", "low", ("1", "2", "3"), "2026-03-01T00:00:05.000Z"),
        _alert("b", "critical", ("1",), "2026-03-01T00:00:01.000Z"),
        _alert("a", "low", ("4",), "2026-03-01T00:00:09.000Z"),
    ]
    table = by_rule(alerts)
    assert [(r["rule_id"], r["alerts"], r["events"]) for r in table] == [("b", 1, 1), ("a", 2, 4)]
    assert table[1]["last_seen"] == "2026-03-01T00:00:09.000Z"


def test_evidence_files_walks_folders(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/b/x.evtx", "a/y.log", "z.pcap"):
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in evidence_files([tmp_path])] == [
        "a/b/x.evtx",
        "a/y.log",
        "z.pcap",
    ]


@pytest.mark.corpus
def test_hunt_over_the_evtx_corpus(
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TULOU_ES_URL", raising=False)
    rules = shared_data / "sigmahq" / "rules" / "windows" / "builtin" / "security"
    timeline_csv = tmp_path / "timeline.csv"
    argv = ["--json", "detect", "hunt", str(shared_data / "evtx"), "--rules", str(rules)]
    assert main([*argv, "--csv", str(timeline_csv)]) == 0
    result = json.loads(capsys.readouterr().out)
    ingest = result["ingest"]
    assert ingest["reconciles"] and ingest["collisions"] == 0 and ingest["duplicates"] == 0
    assert ingest["stored"] == 591  # every record of the 16 files (test_ingest counts them)
    assert {Path(s["path"]).name for s in result["skipped"]} == {"LICENSE.GPL", "SOURCE.md"}
    titles = {r["title"] for r in result["by_rule"]}
    assert "Security Eventlog Cleared" in titles  # the 1102 record of the ATSVC sample
    with timeline_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == result["detections"] > 0
    cleared = [r for r in rows if r["rule_title"] == "Security Eventlog Cleared"]
    assert cleared and all(
        r["event_code"] == "1102" and r["channel"] == "Security" for r in cleared
    )
    # The second hunt over the same rules compiles nothing: the same result from the cache.
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["by_rule"] == result["by_rule"]
    assert list((tmp_path / "var" / "detect" / "rule-cache").glob("*.json"))
