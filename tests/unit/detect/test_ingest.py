"""Many distinct inputs into ONE store: every record stored, nothing merged, every count exact.

The scheme before event.hash named an input by its first line (at most 1 KiB): most EVTX
files, captures that start with the same packet, JSON exports and two hosts' copies of a log
shared ids, and the second input's records were dropped as "duplicates". Each test here
checks first that its inputs do share that old identity (so the test is about the case that
lost evidence), then that one store now holds every record.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import evtx
import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor, IngestSummary
from detect.model import Source, file_identity
from detect.parsers import default_registry
from detect.parsers.syslog import SyslogParser
from detect.spool import BufferedWriter, Spool
from detect.stores.base import EventStore, Query
from detect.stores.memory import MemoryStore
from detect.stores.sqlite import SQLiteStore
from tulou.events import Event


def ingest(tmp_path: Path, store: EventStore, paths: list[Path]) -> IngestSummary:
    ingestor = Ingestor(
        BufferedWriter(store, Spool(tmp_path / "spool")), DeadLetterFile(tmp_path / "dead")
    )
    registry = default_registry()
    for path in paths:
        ingestor.ingest_path(path, registry)
    summary = ingestor.finish()
    ingestor.dead_letters.close()
    return summary


def exact(summary: IngestSummary, stored: int) -> None:
    assert summary.reconciles()
    assert (summary.stored, summary.duplicates, summary.collisions) == (stored, 0, 0)
    assert summary.buffered == 0


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EventStore:
    if request.param == "memory":
        return MemoryStore()
    return SQLiteStore(tmp_path / "events.db")


@pytest.mark.corpus
def test_the_whole_evtx_corpus_in_one_store_keeps_every_record(
    shared_data: Path, tmp_path: Path
) -> None:
    files = sorted((shared_data / "evtx").glob("*.evtx"))
    assert len({file_identity(p) for p in files}) < len(files)  # the old scheme merged them
    # The records as the evtx library itself counts them, file by file.
    records = sum(sum(1 for _ in evtx.PyEvtxParser(str(p)).records()) for p in files)
    store = SQLiteStore(tmp_path / "events.db")
    summary = ingest(tmp_path, store, files)
    assert summary.read == records
    exact(summary, records - summary.dead_lettered)
    assert summary.dead_lettered == 0
    assert store.count() == records
    again = ingest(tmp_path, store, files)  # re-ingest: all duplicates, nothing new
    assert (again.stored, again.duplicates, again.collisions) == (0, records, 0)
    assert store.count() == records
    store.close()


def _capture(path: Path, name: str) -> None:
    """A capture whose first packet is the same in every file (same bytes, same time), then
    a DNS query of its own."""
    first = Ether() / IP(src="10.0.0.5", dst="10.0.0.53") / UDP(sport=40000, dport=9999)
    first.time = 1772352000.0
    query = (
        Ether()
        / IP(src="10.0.0.5", dst="10.0.0.53")
        / UDP(sport=40001, dport=53)
        / DNS(id=7, rd=1, qd=DNSQR(qname=name))
    )
    query.time = 1772352001.0
    wrpcap(str(path), [first, query])


def test_captures_with_identical_headers_keep_every_event(
    tmp_path: Path, store: EventStore
) -> None:
    names = [f"host{n}.city.gov" for n in range(6)]
    files = []
    for n, name in enumerate(names):
        files.append(tmp_path / f"c{n}.pcap")
        _capture(files[-1], name)
    assert len({file_identity(p) for p in files}) == 1  # the old scheme: one identity
    alone = [ingest(tmp_path / f"alone{n}", MemoryStore(), [p]).stored for n, p in enumerate(files)]
    assert all(count == alone[0] and count >= 2 for count in alone)  # a flow and a query each
    summary = ingest(tmp_path, store, files)
    exact(summary, sum(alone))
    assert store.count() == sum(alone)
    found = {
        e["dns.question.name"] for e in store.search(Query(limit=100)) if "dns.question.name" in e
    }
    assert found == set(names)


def test_two_hosts_logs_that_start_with_the_same_line(tmp_path: Path, store: EventStore) -> None:
    first = b"Mar  3 10:00:00 localhost syslogd[1]: restart\n"  # the same line on both hosts
    hosts = {}
    for host in ("web1", "web2"):
        lines = [f"Mar  3 10:00:{n:02d} {host} sshd[{n}]: session {n}\n".encode() for n in (1, 2)]
        hosts[host] = tmp_path / host / "syslog"
        hosts[host].parent.mkdir()
        hosts[host].write_bytes(first + b"".join(lines))
    assert file_identity(hosts["web1"]) == file_identity(hosts["web2"])
    summary = ingest(tmp_path, store, list(hosts.values()))
    # Every line that differs is stored; the first line, byte for byte the same at the same
    # place in both, is the same content seen again (docs/detect.md, Input identity).
    assert (summary.read, summary.stored, summary.duplicates, summary.collisions) == (6, 5, 1, 0)
    assert store.count() == 5
    assert summary.reconciles()


def test_json_exports_that_start_with_the_same_line(tmp_path: Path, store: EventStore) -> None:
    head = json.dumps({"@timestamp": "2026-03-01T00:00:00Z", "message": "export"}) + "\n"
    files = []
    for n in range(5):
        rows = [
            json.dumps({"@timestamp": f"2026-03-01T00:00:0{k}Z", "export": n, "row": k}) + "\n"
            for k in range(1, 4)
        ]
        files.append(tmp_path / f"export{n}.json")
        files[-1].write_text(head + "".join(rows))
    summary = ingest(tmp_path, store, files)
    assert summary.read == 20
    assert (summary.stored, summary.duplicates, summary.collisions) == (16, 4, 0)
    assert store.count() == 16


def _parsed(data: bytes, source: Source) -> list[Event]:
    return [
        e for e in SyslogParser(year=2026).parse(io.BytesIO(data), source) if isinstance(e, dict)
    ]


def test_an_id_already_taken_by_other_content_is_counted_as_a_collision(
    tmp_path: Path, store: EventStore
) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"Mar  3 10:00:01 web1 app[1]: one\nMar  3 10:00:02 web1 app[1]: two\n")
    (one, _two) = _parsed(log.read_bytes(), Source(str(log), file_identity(log)))
    squatter = {**one, "message": "something else", "event.hash": "0" * 64}
    store.write([squatter])  # e.g. written by another tool under the same id
    summary = ingest(tmp_path, store, [log])
    assert (summary.read, summary.stored, summary.duplicates, summary.collisions) == (2, 1, 0, 1)
    assert summary.reconciles()
    assert store.count() == 3  # nothing dropped
    again = ingest(tmp_path, store, [log])
    assert (again.stored, again.duplicates, again.collisions) == (0, 2, 0)
