"""The RuleTarget conformance suite on the real Elasticsearch (tests/fixtures/elasticsearch.py):
the same rules, events and expected matches as the memory fake and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from detect.rules.es_target import EsRuleTarget
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.targets import RuleTarget
from detect.stores.elasticsearch import ElasticsearchStore
from tests.unit.detect.target_conformance import Load, RuleTargetConformance

pytestmark = pytest.mark.elasticsearch

PIPELINE = combined(load_pipelines().values())


class TestElasticsearchTarget(RuleTargetConformance):
    @pytest.fixture
    def load(self, elasticsearch_url: str) -> Iterator[Load]:
        opened: list[ElasticsearchStore] = []

        def make(events: Sequence[dict[str, Any]]) -> RuleTarget:
            store = ElasticsearchStore(
                elasticsearch_url, index=f"test-target-{uuid.uuid4().hex[:8]}"
            )
            opened.append(store)
            assert store.write(list(events)).stored == len(events)
            store.client.indices.refresh(index=store.index)
            return EsRuleTarget.for_store(store, PIPELINE)

        yield make
        for store in opened:
            store.client.indices.delete(index=store.index, ignore_unavailable=True)
            store.client.indices.delete_index_template(name=store.index)
            store.client.close()
