"""The lab Elasticsearch node against the official Python client: the features Tulou relies on."""

from __future__ import annotations

import json
import socket
import urllib.request
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, helpers

from lab.elasticsearch import LabElasticsearch

pytestmark = pytest.mark.elasticsearch


def test_root_answers_with_version_and_tagline(elasticsearch_url: str) -> None:
    with urllib.request.urlopen(f"{elasticsearch_url}/", timeout=10) as response:
        assert response.headers["X-elastic-product"] == "Elasticsearch"
        body = json.loads(response.read())
    assert body["tagline"] == "You Know, for Search"
    assert body["version"]["number"].startswith("8.")


def test_client_product_check_passes(es_client: Elasticsearch) -> None:
    # info() raises UnsupportedProductError if the server is not Elasticsearch.
    info = es_client.info()
    assert info["version"]["number"].startswith("8.")
    assert es_client.ping()
    assert es_client.cluster.health()["status"] in ("green", "yellow")


def test_bulk_index_and_search(es_client: Elasticsearch) -> None:
    events = [
        {"_index": "test-events", "_id": str(i), "event": {"action": action}, "n": i}
        for i, action in enumerate(["login", "logout", "login", "download"])
    ]
    ok, errors = helpers.bulk(es_client, events, refresh="wait_for")
    assert (ok, errors) == (4, [])
    result = es_client.search(
        index="test-events",
        query={"match": {"event.action": "login"}},
        aggs={"total": {"sum": {"field": "n"}}},
    )
    assert result["hits"]["total"]["value"] == 2
    assert result["aggregations"]["total"]["value"] == 2.0


def test_index_template_with_lowercase_normalizer(es_client: Elasticsearch) -> None:
    es_client.indices.put_index_template(
        name="test-users",
        index_patterns=["test-users-*"],
        template={
            "settings": {
                "number_of_replicas": 0,
                "analysis": {"normalizer": {"folded": {"type": "custom", "filter": ["lowercase"]}}},
            },
            "mappings": {"properties": {"user": {"type": "keyword", "normalizer": "folded"}}},
        },
    )
    es_client.index(index="test-users-1", document={"user": "Alice.ADMIN"}, refresh="wait_for")
    mapping = es_client.indices.get_mapping(index="test-users-1")
    assert mapping["test-users-1"]["mappings"]["properties"]["user"]["normalizer"] == "folded"
    for spelling in ("alice.admin", "ALICE.ADMIN", "Alice.Admin"):
        hits = es_client.search(index="test-users-1", query={"term": {"user": spelling}})
        assert hits["hits"]["total"]["value"] == 1, spelling


def test_data_stream_created_by_index_template(es_client: Elasticsearch) -> None:
    # Without the data-streams module (not on Maven Central for 8.x) the _data_stream API is
    # absent, but a template with "data_stream" makes the first write create the stream. The lab
    # node cannot delete a data stream, so the name is unique and outside es_client's `test-*`
    # clean-up (whose template deletion a stream in use would refuse).
    name = f"lab-ds-{uuid.uuid4().hex[:8]}"
    es_client.indices.put_index_template(
        name=name,
        index_patterns=[f"{name}*"],
        data_stream={},
        template={"settings": {"number_of_replicas": 0}},
    )
    es_client.index(
        index=name,
        document={"@timestamp": "2024-05-01T12:00:00Z", "message": "hello"},
        op_type="create",
        refresh="wait_for",
    )
    backing = es_client.indices.get(index=name, expand_wildcards="all")
    assert all(index.startswith(f".ds-{name}-") for index in backing)
    hits = es_client.search(index=name, query={"match": {"message": "hello"}})
    assert hits["hits"]["total"]["value"] == 1
    # A full cluster (TULOU_ES_URL) has the API; the lab node answers 405 and keeps the stream.
    cleanup = es_client.options(ignore_status=(404, 405))
    cleanup.indices.delete_data_stream(name=name)
    cleanup.options(ignore_status=(400, 404)).indices.delete_index_template(name=name)


def test_stop_frees_the_port(tmp_path: Path) -> None:
    # A second node of its own, so the session node keeps serving the other tests.
    node = LabElasticsearch(tmp_path / "state", port=0, heap_mb=512)
    url = node.start(timeout=180)
    assert node.start() == url  # idempotent: already running and healthy
    status = node.status()
    assert status["running"] and status["version"].startswith("8.")
    port = int(url.rsplit(":", 1)[1])

    assert node.stop() is True
    assert node.status()["running"] is False
    with socket.socket() as sock:
        # SO_REUSEADDR as any server sets it: closed client connections in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # raises if the node still listened
    assert node.stop() is False
