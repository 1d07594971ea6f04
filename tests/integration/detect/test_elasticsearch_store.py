"""The store conformance suite on the real Elasticsearch node, plus ES-specific behaviour."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from detect.stores import open_store
from detect.stores.elasticsearch import ElasticsearchStore
from tests.unit.detect.stores.store_conformance import StoreConformance, make, sample

pytestmark = pytest.mark.elasticsearch


def _index() -> str:
    return f"test-events-{uuid.uuid4().hex[:8]}"


class TestElasticsearchStore(StoreConformance):
    @pytest.fixture
    def store(
        self, elasticsearch_url: str, es_client: Elasticsearch
    ) -> Iterator[ElasticsearchStore]:
        store = ElasticsearchStore(elasticsearch_url, index=_index())
        yield store
        store.close()


def test_mapping_has_lowercase_subfields_and_ecs_types(
    elasticsearch_url: str, es_client: Elasticsearch
) -> None:
    index = _index()
    store = open_store(f"{elasticsearch_url}/{index}")
    assert isinstance(store, ElasticsearchStore)
    store.write(sample())
    mapping = es_client.indices.get_mapping(index=index)[index]["mappings"]
    props = mapping["properties"]
    assert props["user.name"]["fields"]["lower"]["normalizer"] == "lowercase"
    assert props["source.ip"]["type"] == "ip"
    assert props["destination.port"]["type"] == "long"
    assert props["@timestamp"]["type"] == "date"
    # pySigma-style Lucene on the lower-case sub-field is case-insensitive
    found = store.search_lucene("user.name.lower:ALICE AND url.path.lower:*LOGIN*")
    assert [e["event.original"] for e in found] == ["line 2"]
    store.close()


def test_unmappable_values_are_rejected_not_lost(
    elasticsearch_url: str, es_client: Elasticsearch
) -> None:
    store = ElasticsearchStore(elasticsearch_url, index=_index())
    good = make(0, **{"source.ip": "10.1.1.1"})
    bad = make(1, **{"source.ip": "not-an-ip"})
    result = store.write([good, bad])
    assert result.stored == 1
    assert [e for e, _ in result.rejected] == [bad]
    assert "ip" in result.rejected[0][1].lower()
    store.close()


def test_api_key_is_not_in_repr(elasticsearch_url: str) -> None:
    store = ElasticsearchStore(elasticsearch_url, index=_index(), api_key="c2VjcmV0LWtleQ==")
    assert "c2VjcmV0" not in repr(store)
    store.close()
