"""The RuleTarget seam: its conformance suite on the memory fake and on SQLite, its registry
(detect/rules/targets.py). Elasticsearch runs the same suite in
tests/integration/detect/test_rules_target_conformance.py."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from detect.rules.memory_target import MemoryRuleTarget
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.rules.targets import (
    MatchesInBatches,
    RuleTarget,
    default_targets,
    store_kind,
    target_for,
)
from detect.stores.memory import MemoryStore
from detect.stores.sqlite import SQLiteStore
from tests.unit.detect.target_conformance import Load, RuleTargetConformance
from tulou.errors import ConfigError

PIPELINE = combined(load_pipelines().values())


class TestMemoryTarget(RuleTargetConformance):
    @pytest.fixture
    def load(self) -> Load:
        def make(events: Sequence[dict[str, Any]]) -> RuleTarget:
            store = MemoryStore()
            assert store.write(events).stored == len(events)
            return MemoryRuleTarget(store, PIPELINE)

        return make


class TestSqliteTarget(RuleTargetConformance):
    @pytest.fixture
    def load(self) -> Iterator[Load]:
        opened: list[SQLiteStore] = []

        def make(events: Sequence[dict[str, Any]]) -> RuleTarget:
            store = SQLiteStore(":memory:")
            opened.append(store)
            assert store.write(events).stored == len(events)
            return SqliteRuleTarget(store, PIPELINE)

        yield make
        for store in opened:
            store.close()


def test_capabilities_are_declared_not_guessed() -> None:
    store = SQLiteStore(":memory:")
    try:
        assert isinstance(SqliteRuleTarget(store, PIPELINE), MatchesInBatches)
    finally:
        store.close()
    assert not isinstance(MemoryRuleTarget(MemoryStore(), PIPELINE), MatchesInBatches)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///var/events.db", "sqlite"),
        ("sqlite:events.db", "sqlite"),
        ("memory:", "memory"),
        ("http://127.0.0.1:9200/tulou-events", "elasticsearch"),
        ("elasticsearch+https://es.city.example", "elasticsearch"),
    ],
)
def test_store_urls_name_their_target_kind(url: str, kind: str) -> None:
    assert store_kind(url) == kind
    assert kind in default_targets()


def test_registry_opens_the_memory_target_and_refuses_unknown_stores() -> None:
    target = target_for("memory:", MemoryStore(), PIPELINE)
    assert isinstance(target, MemoryRuleTarget)
    with pytest.raises(ConfigError, match="rules cannot run"):
        store_kind("ftp://example/x")
    with pytest.raises(ConfigError, match="registered twice"):
        default_targets().register("memory", lambda store, pipeline: target)
