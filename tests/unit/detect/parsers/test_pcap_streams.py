"""Captures whose records span segments or tunnels: HTTP heads split over TCP segments, DNS
over TCP, GRE and ERSPAN I/II/III, and the ECS transport names. Crafted with scapy's real
encoders; a sample is compared field by field with tshark's dissection."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.contrib.erspan import ERSPAN_I, ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.igmp import IGMP
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import GRE, Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from detect.parsers.pcap import PcapParser
from tests.unit.detect.parsers.helpers import check, run

CLIENT, SERVER = "10.0.0.5", "93.184.216.34"
T0 = 1772352000.0
HEAD = (
    b"POST /api/login HTTP/1.1\r\nHost: portal.city.gov\r\nUser-Agent: hydra/9.5\r\n"
    b"Content-Length: 27\r\nReferer: https://portal.city.gov/\r\n\r\n"
)


def _pcap(tmp_path: Path, packets: list[Packet], name: str = "c.pcap") -> bytes:
    for i, packet in enumerate(packets):
        packet.time = T0 + i * 0.001
    wrpcap(str(tmp_path / name), packets)
    return (tmp_path / name).read_bytes()


def _seg(seq: int, data: bytes, flags: str = "PA", sport: int = 40000, dport: int = 80) -> Packet:
    tcp = TCP(sport=sport, dport=dport, flags=flags, seq=seq)
    return Ether() / IP(src=CLIENT, dst=SERVER) / tcp / Raw(data)


def _reply(seq: int, data: bytes, sport: int = 80, dport: int = 40000) -> Packet:
    tcp = TCP(sport=sport, dport=dport, flags="PA", seq=seq)
    return Ether() / IP(src=SERVER, dst=CLIENT) / tcp / Raw(data)


def _split_request() -> list[Packet]:
    """The head in three segments: 1, 3 (out of order), 2, 2 again (retransmitted)."""
    a, b, c = HEAD[:10], HEAD[10:50], HEAD[50:]
    isn = 1000
    return [
        _seg(isn, a),
        _seg(isn + 50, c),
        _seg(isn + 10, b),
        _seg(isn + 10, b),
        _reply(5000, b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"),
    ]


def test_http_head_split_over_segments_is_reassembled(tmp_path: Path) -> None:
    parser = PcapParser()
    events, rejected = run(parser, _pcap(tmp_path, _split_request()))
    assert rejected == []
    (request,) = [e for e in events if e["event.action"] == "http_request"]
    check(
        request,
        {
            "http.request.method": "POST",
            "url.original": "/api/login",
            "url.domain": "portal.city.gov",
            "user_agent.original": "hydra/9.5",
            "http.request.referrer": "https://portal.city.gov/",
            "http.request.body.bytes": 27,
            "http.response.status_code": 401,
            "event.outcome": "failure",
            "source.ip": CLIENT,
            "destination.port": 80,
        },
    )
    assert request["event.original"].endswith("#packet=0")  # where the request began
    assert parser.stats["reassembled"] == 1


def test_what_cannot_be_reassembled_is_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    packets = [_seg(1000, HEAD[:10]), _seg(1050, HEAD[50:])]  # bytes 10..50 never come
    events, rejected = run(PcapParser(), _pcap(tmp_path, packets))
    assert not [e for e in events if e["event.action"] == "http_request"]
    (dead,) = rejected
    assert dead.position == "http:0"
    assert "the flow ended inside a HTTP request head (40 bytes missing at seq 1010)" in dead.reason
    assert dead.original == HEAD[:10]
    # A budget too small for the head: refused at once, said so.
    _, rejected = run(PcapParser(reassembly_budget=5), _pcap(tmp_path, packets, "d.pcap"))
    assert "reassembly budget of 5 bytes spent" in rejected[0].reason


def _dns_tcp() -> list[Packet]:
    q1 = bytes(DNS(id=1, rd=1, qd=DNSQR(qname="portal.city.gov", qtype="A")))
    q2 = bytes(DNS(id=2, rd=1, qd=DNSQR(qname="mail.city.gov", qtype="MX")))
    answer = bytes(
        DNS(
            id=1,
            qr=1,
            qd=DNSQR(qname="portal.city.gov"),
            an=DNSRR(rrname="portal.city.gov", rdata="198.51.100.80"),
        )
    )
    both = len(q1).to_bytes(2, "big") + q1 + len(q2).to_bytes(2, "big") + q2
    framed = len(answer).to_bytes(2, "big") + answer
    return [
        _seg(1, both, sport=41000, dport=53),  # two queries in one segment
        _reply(1, framed[:7], sport=53, dport=41000),  # the answer in two segments
        _reply(8, framed[7:], sport=53, dport=41000),
    ]


def test_dns_over_tcp(tmp_path: Path) -> None:
    events, rejected = run(PcapParser(), _pcap(tmp_path, _dns_tcp()))
    assert rejected == []
    dns = [e for e in events if e.get("network.protocol") == "dns"]
    assert [(e["dns.type"], e["dns.question.name"]) for e in dns] == [
        ("query", "portal.city.gov"),
        ("query", "mail.city.gov"),
        ("answer", "portal.city.gov"),
    ]
    assert dns[2]["dns.resolved_ip"] == ["198.51.100.80"]
    assert dns[0]["network.transport"] == "tcp"
    assert len({e["event.id"] for e in dns}) == 3  # two messages of one packet: two ids


INNER = (
    IP(src=CLIENT, dst=SERVER)
    / UDP(sport=5000, dport=53)
    / DNS(id=7, rd=1, qd=DNSQR(qname="tunnel.city.gov"))
)
OUTER = IP(src="192.0.2.1", dst="192.0.2.2")


@pytest.mark.parametrize(
    "packet",
    [
        Ether() / OUTER / GRE() / INNER,  # GRE carrying IPv4
        Ether() / OUTER / GRE(key_present=1, key=7, seqnum_present=1, sequence_number=3) / INNER,
        Ether() / OUTER / GRE(proto=0x6558) / Ether() / INNER,  # transparent bridging
        Ether() / OUTER / GRE(proto=0x88BE) / ERSPAN_I() / Ether() / INNER,
        Ether()
        / OUTER
        / GRE(proto=0x88BE, seqnum_present=1)
        / ERSPAN_II(session_id=9)
        / Ether()
        / INNER,
        Ether()
        / OUTER
        / GRE(proto=0x22EB, seqnum_present=1)
        / ERSPAN_III(session_id=9)
        / Ether()
        / INNER,
        Ether()
        / OUTER
        / GRE(proto=0x22EB, seqnum_present=1)
        / ERSPAN_III(o=1)
        / ERSPAN_PlatformSpecific()
        / Ether()
        / INNER,
    ],
    ids=["gre-ip", "gre-key-seq", "gre-teb", "erspan-1", "erspan-2", "erspan-3", "erspan-3-o"],
)
def test_tunnels_are_unwrapped(tmp_path: Path, packet: Packet) -> None:
    parser = PcapParser()
    events, rejected = run(parser, _pcap(tmp_path, [packet]))
    assert rejected == []
    (query,) = [e for e in events if e["event.action"] == "dns_query"]
    check(query, {"dns.question.name": "tunnel.city.gov", "source.ip": CLIENT, "source.port": 5000})
    assert parser.stats["tunnelled"] == 1


@pytest.mark.parametrize(
    ("packet", "transport", "number"),
    [
        (Ether() / IP(src=CLIENT, dst="224.0.0.22") / IGMP(), "igmp", "2"),
        (Ether() / IP(src=CLIENT, dst=SERVER, proto=89) / Raw(b"o" * 20), "ospfigp", "89"),
        (Ether() / IP(src=CLIENT, dst=SERVER, proto=132) / Raw(b"s" * 20), "sctp", "132"),
        (Ether() / IP(src=CLIENT, dst=SERVER, proto=253) / Raw(b"x"), "253", "253"),
    ],
)
def test_transport_is_the_iana_keyword(
    tmp_path: Path, packet: Packet, transport: str, number: str
) -> None:
    (flow,), _ = run(PcapParser(), _pcap(tmp_path, [packet]))
    assert (flow["network.transport"], flow["network.iana_number"]) == (transport, number)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (scripts/debian-packages.txt)")
def test_fields_agree_with_tshark(tmp_path: Path) -> None:
    # In order, with the body (tshark reports a request once its Content-Length arrived).
    in_order = [_seg(1000, HEAD[:10]), _seg(1010, HEAD[10:50]), _seg(1050, HEAD[50:])]
    in_order.append(_seg(1000 + len(HEAD), b"user=admin&password=123456"[:27].ljust(27)))
    packets = in_order + _dns_tcp()
    data = _pcap(tmp_path, packets)
    ours, _ = run(PcapParser(), data)
    fields = ["http.request.method", "http.request.uri", "http.host", "http.user_agent",
              "dns.qry.name", "dns.a", "ip.src", "tcp.dstport"]  # fmt: skip
    args = ["tshark", "-n", "-r", str(tmp_path / "c.pcap"), "-o", "tcp.desegment_tcp_streams:TRUE"]
    args += ["-o", "tcp.reassemble_out_of_order:TRUE"]
    args += ["-T", "fields", "-E", "separator=|", "-Y", "http.request or dns"]
    for name in fields:
        args += ["-e", name]
    lines = subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()
    theirs = [dict(zip(fields, line.split("|"), strict=True)) for line in lines]
    http = [t for t in theirs if t["http.request.method"]]
    assert len(http) == 1
    (request,) = [e for e in ours if e["event.action"] == "http_request"]
    assert request["http.request.method"] == http[0]["http.request.method"]
    assert request["url.original"] == http[0]["http.request.uri"]
    assert request["url.domain"] == http[0]["http.host"]
    assert request["user_agent.original"] == http[0]["http.user_agent"]
    assert request["source.ip"] == http[0]["ip.src"]
    names = [n for t in theirs if t["dns.qry.name"] for n in t["dns.qry.name"].split(",")]
    ours_dns = [e for e in ours if e.get("network.protocol") == "dns"]
    assert [e["dns.question.name"] for e in ours_dns] == names
    answers = [a for t in theirs if t["dns.a"] for a in t["dns.a"].split(",")]
    assert [ip for e in ours_dns for ip in e.get("dns.resolved_ip", [])] == answers
