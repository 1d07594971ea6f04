"""EsRuleTarget paging on a real node: a rule with more matches than a page reads every match
once, in (timestamp, event id) order, through later pages (trimmed responses), alone and in a
``_msearch`` batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from detect.rules import es_target
from detect.rules.correlation import Match
from detect.rules.es_target import EsRuleTarget
from detect.rules.pipelines import combined, load_pipelines
from detect.stores.elasticsearch import ElasticsearchStore
from tulou.events import event_id, format_timestamp

pytestmark = pytest.mark.elasticsearch

T0 = datetime(2025, 8, 1, tzinfo=UTC)


@pytest.fixture
def store(elasticsearch_url: str) -> Iterator[ElasticsearchStore]:
    store = ElasticsearchStore(elasticsearch_url, index=f"test-pages-{uuid.uuid4().hex[:8]}")
    yield store
    store.client.indices.delete(index=store.index, ignore_unavailable=True)
    store.client.options(ignore_status=404).indices.delete_index_template(name=store.index)
    store.close()


def test_matches_over_several_pages(
    store: ElasticsearchStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(es_target, "PAGE", 3)
    monkeypatch.setattr(es_target, "LATER_PAGE", 4)
    events = [
        {
            # two events share each timestamp: the event id breaks the tie
            "@timestamp": format_timestamp(T0 + timedelta(seconds=i // 2)),
            "event.id": event_id("pages", i),
            "event.dataset": "auth",
            "user.name": "alice" if i % 5 else "bob",
            "source.ip": f"10.0.0.{i}",
        }
        for i in range(23)
    ]
    assert store.write(events).stored == len(events)
    target = EsRuleTarget.for_store(store, combined(load_pipelines().values()))
    target.prepare([])
    query = {"term": {"event.dataset": "auth"}}
    end = T0 + timedelta(hours=1)
    expected = sorted((e["@timestamp"], e["event.id"], e["user.name"]) for e in events)

    def seen(found: list[Match]) -> list[tuple[str, str, object]]:
        return [(format_timestamp(m.timestamp), m.event_id, m.values["user.name"]) for m in found]

    assert seen(target.matches("r", query, T0, end, ["user.name"])) == expected
    batch = target.matches_batch(
        [("r1", query), ("r2", {"term": {"user.name": "bob"}})], {}, T0, end, ["user.name"]
    )
    assert seen(batch["r1"]) == expected
    assert seen(batch["r2"]) == [row for row in expected if row[2] == "bob"]
