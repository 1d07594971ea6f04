"""Bounded compatibility check over the public SigmaHQ corpus (../shared/data/sigmahq, DRL 1.1,
read in place, never copied): how many rules convert per store and per log-source pipeline,
and every converted SQLite query actually executes on the real store."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detect.rules.compile import compile_rules
from detect.rules.es_backend import EsDslBackend
from detect.rules.evaluate import run_rules
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.stores.sqlite import SQLiteStore

KINDS: list[dict[str, Any]] = [
    {
        "event.dataset": "auditd",
        "event.category": ["process"],
        "event.type": ["start"],
        "process.command_line": "id",
    },
    {
        "event.dataset": "web",
        "url.query": "a=1",
        "http.response.status_code": 200,
    },
    {
        "event.dataset": "evtx",
        "winlog.channel": "Security",
        "winlog.event_id": 4624,
    },
    {"network.protocol": "dns", "dns.question.name": "a.example"},
]


pytestmark = [pytest.mark.corpus, pytest.mark.slow]


def test_sigmahq_rules_convert_and_run(shared_data: Path) -> None:
    ruleset = load_rules([shared_data / "sigmahq" / "rules"])
    assert len(ruleset.rules) > 2500
    assert len(ruleset.problems) < 0.01 * len(ruleset.rules)
    pipeline = combined(load_pipelines().values())
    store = SQLiteStore(":memory:")
    try:
        target = SqliteRuleTarget(store, pipeline)
        sqlite = compile_rules(ruleset, "sqlite", target.backend)
        es = compile_rules(ruleset, "elasticsearch", lambda: EsDslBackend(pipeline))
        per_source = Counter(
            "/".join(v for v in c.rule.logsource.values()) for c in sqlite.rules.values()
        )
        for source in (
            "linux/process_creation",
            "linux/auditd",
            "webserver",
            "proxy",
            "dns",
            "windows/process_creation",
            "windows/security",
        ):
            assert per_source.get(source, 0) > 0, source
        failed = {str(p.rule_id) for p in sqlite.problems if p.severity == "error"}
        assert len(failed) < 0.01 * len(ruleset.rules), sorted(failed)[:10]
        assert len(es.rules) > 0.97 * len(sqlite.rules)
        # Every converted query must execute: a store holding one event of each kind.
        store.write(
            [
                {
                    "@timestamp": "2025-03-01T10:00:00.000Z",
                    "event.id": f"e{i}",
                    "event.original": "x",
                    **fields,
                }
                for i, fields in enumerate(KINDS)
            ]
        )
        start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)
        result = run_rules(sqlite, target, start, end, prefilter=False)
        assert sum(1 for s in result.stats.values() if not s.skipped) == len(sqlite.rules) + len(
            sqlite.correlations
        )
    finally:
        store.close()
