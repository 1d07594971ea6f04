"""Outage: the Elasticsearch node is stopped in the middle of an ingest and started again.

The node is our own lab node (its own state directory and port), so stopping it disturbs no
other test. Expected: zero loss, zero duplicates, and read == stored + duplicates + dead_lettered.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.model import Source
from detect.parsers.syslog import SyslogParser
from detect.spool import BufferedWriter, Spool
from detect.stores.elasticsearch import ElasticsearchStore
from lab.elasticsearch import LabElasticsearch

pytestmark = [pytest.mark.elasticsearch, pytest.mark.slow]

LINES = 30_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabElasticsearch]:
    lab = LabElasticsearch(tmp_path_factory.mktemp("outage-es"), port=_free_port(), heap_mb=512)
    lab.start(timeout=180)
    try:
        yield lab
    finally:
        lab.stop()


def test_stop_and_restart_mid_ingest_loses_nothing(node: LabElasticsearch, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{node.port}"
    data = b"".join(
        f"Mar  3 10:{i // 3600 % 60:02d}:{i % 60:02d} web{i % 7} app[{i}]: event {i}\n".encode()
        for i in range(LINES)
    )
    store = ElasticsearchStore(url, index="test-outage", retry_for=1.0, request_timeout=5.0)
    writer = BufferedWriter(store, Spool(tmp_path / "spool"), retry_interval=0.5)
    ingestor = Ingestor(writer, DeadLetterFile(tmp_path / "dead.ndjson"), batch_size=500)
    outage: list[float] = []

    def stop_then_start() -> None:
        outage.append(time.monotonic())
        node.stop(timeout=30)  # in-flight bulk requests die with the node
        time.sleep(2)
        node.start(timeout=180)
        outage.append(time.monotonic())

    restarter = threading.Thread(target=stop_then_start)
    batches = 0

    def progress(_position: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 5:
            restarter.start()
        time.sleep(0.1)  # keep ingesting while the node is down

    ingestor.ingest_stream(
        io.BytesIO(data), Source("outage.log", "outage"), SyslogParser(year=2026), progress
    )
    restarter.join(timeout=240)
    summary = ingestor.finish(drain_timeout=120)

    assert len(outage) == 2, "the node was stopped and restarted"
    assert writer.delivery.spooled_batches > 0, "some batches were buffered during the outage"
    assert summary.read == LINES
    assert summary.buffered == 0
    assert summary.dead_lettered == 0
    assert summary.reconciles()
    assert summary.stored + summary.duplicates == LINES
    assert store.count() == LINES  # zero loss, and _id = event.id means zero duplicates
    # Distinct ids counted exactly (a cardinality aggregation is an estimate): composite pages.
    distinct, after = 0, None
    while True:
        composite: dict[str, Any] = {
            "size": 10000,
            "sources": [{"id": {"terms": {"field": "event.id"}}}],
        }
        if after is not None:
            composite["after"] = after
        page = store.client.search(
            index="test-outage", size=0, aggs={"ids": {"composite": composite}}
        )
        buckets = page["aggregations"]["ids"]["buckets"]
        if not buckets:
            break
        assert all(b["doc_count"] == 1 for b in buckets)
        distinct += len(buckets)
        after = page["aggregations"]["ids"]["after_key"]
    assert distinct == LINES
    store.close()
