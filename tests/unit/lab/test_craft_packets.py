"""Crafted packets written as a pcap and read back by detect's own capture parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scapy.utils import wrpcap

from detect.parsers.pcap import PcapParser
from lab.craft import packets
from tests.unit.detect.parsers.helpers import run

T0 = 1772352000.0  # 2026-03-01T08:00:00Z


def parse(tmp_path: Path, frames: list[Any]) -> list[dict[str, Any]]:
    path = tmp_path / "c.pcap"
    wrpcap(str(path), frames)
    events, rejected = run(PcapParser(), path.read_bytes())
    assert rejected == []
    return events


def test_syn_probes_become_one_flow_each(tmp_path: Path) -> None:
    frames = []
    for i, state in enumerate(("open", "closed", "filtered")):
        frames += packets.syn_probe(T0 + i, "10.0.0.66", "10.0.0.15", 40000, 22 + i, state=state)
    assert [len(f) for f in (frames[:3], frames[3:5], frames[5:])] == [3, 2, 1]
    flows = sorted(parse(tmp_path, frames), key=lambda e: e["destination.port"])
    assert [f["destination.port"] for f in flows] == [22, 23, 24]
    assert {f["source.ip"] for f in flows} == {"10.0.0.66"}
    assert flows[0]["@timestamp"] == "2026-03-01T08:00:00.000Z"
    assert flows[0]["source.tcp_flags"] == ["SYN", "RST"]  # the scanner's reset
    assert flows[0]["destination.tcp_flags"] == ["SYN", "ACK"]  # the open port's answer
    assert flows[1]["destination.tcp_flags"] == ["ACK", "RST"]  # closed
    assert flows[2]["destination.packets"] == 0  # filtered: no answer


def test_tcp_session_carries_an_http_request_and_status(tmp_path: Path) -> None:
    frames = packets.tcp_session(
        T0,
        "10.0.0.5",
        "10.0.0.80",
        52000,
        80,
        packets.http_get("portal.city.gov", "/help?q=1", "Mozilla/5.0"),
        packets.http_ok(b"<html></html>"),
    )
    events = parse(tmp_path, frames)
    (http,) = [e for e in events if e["event.action"] == "http_request"]
    # One flow: the client's last ACK after the second FIN belongs to the closed connection.
    (flow,) = [e for e in events if e["event.action"] == "network_flow"]
    assert http["http.request.method"] == "GET"
    assert http["url.path"] == "/help"
    assert http["http.response.status_code"] == 200
    assert flow["network.packets"] == len(frames)
    assert "FIN" in flow["source.tcp_flags"] and "FIN" in flow["destination.tcp_flags"]


def test_dns_exchange_is_a_query_and_an_answer(tmp_path: Path) -> None:
    frames = packets.dns_exchange(
        T0, "10.0.0.5", "10.0.0.53", 30000, "abc.city.gov", qtype="TXT", answers=[("TXT", "hi")]
    )
    events = parse(tmp_path, frames)
    dns = {e["dns.type"]: e for e in events if e.get("network.protocol") == "dns"}
    assert dns["query"]["dns.question.name"] == "abc.city.gov"
    assert dns["query"]["dns.question.type"] == "TXT"
    assert dns["query"]["source.ip"] == "10.0.0.5"
    assert dns["answer"]["dns.response_code"] == "NOERROR"
    assert dns["answer"]["source.ip"] == "10.0.0.53"
    nxdomain = packets.dns_exchange(T0, "10.0.0.5", "10.0.0.53", 30001, "x.city.gov", rcode=3)
    answer = next(e for e in parse(tmp_path, nxdomain) if e.get("dns.type") == "answer")
    assert answer["dns.response_code"] == "NXDOMAIN"
