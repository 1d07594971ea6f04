"""Hypothesis fuzzing of every registered parser: nothing escapes, bad records are rejected.

Inputs are random bytes and valid samples with random bytes spliced in, so the fuzzer reaches
deep into each format rather than failing at the first byte.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.model import Rejected, Source
from detect.parsers import default_registry
from detect.spool import BufferedWriter, Spool
from detect.stores.memory import MemoryStore
from tests.unit.detect.parsers.test_auditd_parser import LOG as AUDIT
from tests.unit.detect.parsers.test_auth_parser import LOG as AUTH
from tests.unit.detect.parsers.test_jsonl_parser import GATEWAY
from tests.unit.detect.parsers.test_web_error_parser import LOG as WEB_ERRORS
from tulou.events import REQUIRED_FIELDS

SEEDS: dict[str, bytes] = {
    "syslog": b'<165>1 2026-03-01T08:15:30Z h app 1 ID [a b="c"] msg\nMar  3 10:00:01 h t[1]: m\n',
    "auth": AUTH,
    "web": b'1.2.3.4 - u [10/Oct/2026:13:55:36 -0700] "GET /a?b HTTP/1.1" 200 5 "r" "ua"\n',
    "web.error": WEB_ERRORS,
    "auditd": AUDIT,
    "json": b'{"ts": 1, "a": {"b": [1, 2]}}\n',
    "gateway.audit": GATEWAY,
    "crypto.audit": (
        b'{"@timestamp":"2026-12-07T10:00:00.000Z","event.action":"encrypt","event.outcome":"failure",'
        b'"observer.product":"tulou-crypto","error.code":"denied","user.name":"service:x"}\n'
    ),
}


def _pcap_seed() -> bytes:
    from scapy.contrib.erspan import ERSPAN_II
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import GRE, Ether
    from scapy.packet import Raw
    from scapy.utils import PcapWriter

    from tests.unit.detect.parsers.test_pcap_parser import client_hello

    buffer = io.BytesIO()
    writer = PcapWriter(buffer)
    writer.write(
        Ether()
        / IP()
        / UDP(dport=53)
        / Raw(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01")
    )
    writer.write(Ether() / IP() / TCP(dport=80) / Raw(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
    writer.write(Ether() / IP() / TCP(dport=443) / Raw(client_hello()))
    # Reassembly and tunnels: a head over two segments, DNS over TCP, ERSPAN II over GRE.
    writer.write(Ether() / IP() / TCP(dport=80, seq=7) / Raw(b"GET /x HTTP/1.1\r\nHo"))
    writer.write(Ether() / IP() / TCP(dport=80, seq=28) / Raw(b"st: h\r\n\r\n"))
    writer.write(
        Ether()
        / IP()
        / TCP(dport=53)
        / Raw(b"\x00\x11\x00\x07\x01\x00\x00\x01" + bytes(6) + b"\x01a\x00\x00\x01")
    )
    writer.write(
        Ether() / IP() / GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II() / Ether() / IP() / UDP()
    )
    writer.flush()
    return buffer.getvalue()


SEEDS["pcap"] = _pcap_seed()
SEEDS["evtx"] = b"ElfFile\x00" + bytes(4088)
SOURCE = Source(name="fuzz", identity="fuzz")


def _mutate(seed: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    data = bytearray(seed)
    for position, chunk in cuts:
        at = position % (len(data) + 1)
        data[at : at + len(chunk)] = chunk
    return bytes(data)


mutations = st.lists(
    st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=8)), max_size=6
)


@pytest.mark.parametrize("parser_id", default_registry().ids())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=mutations, noise=st.binary(max_size=300))
def test_no_exception_escapes(parser_id: str, cuts: list[tuple[int, bytes]], noise: bytes) -> None:
    parser = default_registry().get(parser_id)
    for data in (_mutate(SEEDS[parser_id], cuts), noise, SEEDS[parser_id][: len(noise)]):
        assert isinstance(parser.sniff(data), int)
        for item in parser.parse(io.BytesIO(data), SOURCE):
            if isinstance(item, Rejected):
                assert item.reason
            else:
                assert all(isinstance(item.get(f), str) for f in REQUIRED_FIELDS)
                assert item["event.dataset"] == parser_id


@pytest.mark.parametrize("parser_id", ["syslog", "auth", "web", "web.error", "auditd", "json"])
@settings(max_examples=25, deadline=None)
@given(
    garbage=st.lists(
        st.binary(min_size=1, max_size=60).filter(lambda b: b"\n" not in b and b.strip()),
        max_size=5,
    )
)
def test_bad_lines_are_dead_lettered_and_counts_reconcile(
    parser_id: str, garbage: list[bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path_factory.mktemp("fuzz")
    data = SEEDS[parser_id] + b"".join(g + b"\n" for g in garbage)
    store = MemoryStore()
    dead = DeadLetterFile(work / "dead.ndjson")
    ingestor = Ingestor(BufferedWriter(store, Spool(work / "spool")), dead, batch_size=3)
    parser = default_registry().get(parser_id)
    ingestor.ingest_stream(io.BytesIO(data), SOURCE, parser)
    summary = ingestor.finish()
    assert summary.reconciles()
    assert summary.stored == len(store.events)
    assert summary.dead_lettered == dead.count
    if parser_id != "auditd":  # auditd joins lines, so records != lines
        lines = [line for line in data.split(b"\n") if line.strip()]
        assert summary.read == len(lines)
    dead.close()
    assert Path(dead.path).exists() or dead.count == 0
