# ruff: noqa: E501 - real log lines and packets are longer than code lines
"""The capture parser on pcaps and pcapngs crafted with scapy, checked field by field."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.layers.tls.extensions import (
    ServerName,
    TLS_Ext_ServerName,
    TLS_Ext_SupportedGroups,
    TLS_Ext_SupportedPointFormat,
    TLS_Ext_SupportedVersion_CH,
)
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.record import TLS
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgWriter, wrpcap

from detect.parsers.pcap import PcapParser
from tests.unit.detect.parsers.helpers import check, run

CLIENT, SERVER, RESOLVER = "10.0.0.5", "93.184.216.34", "10.0.0.53"
T0 = 1772352000.0  # 2026-03-01T08:00:00Z


def _at(packet: Packet, offset: float) -> Packet:
    packet.time = T0 + offset
    return packet


def tcp(  # noqa: PLR0917 - reads like a packet listing
    src: str, dst: str, sport: int, dport: int, flags: str, t: float, data: bytes = b""
) -> Packet:
    packet = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags)
    return _at(packet / Raw(data) if data else packet, t)


def client_hello() -> bytes:
    hello = TLSClientHello(
        ciphers=[0x0A0A, 0x1301, 0xC02F],  # a GREASE value first, as browsers send
        ext=[
            TLS_Ext_ServerName(servernames=[ServerName(servername=b"portal.city.gov")]),
            TLS_Ext_SupportedGroups(groups=[29, 23]),
            TLS_Ext_SupportedPointFormat(ecpl=[0]),
            TLS_Ext_SupportedVersion_CH(versions=[0x0304, 0x0303]),
        ],
    )
    return bytes(TLS(msg=[hello]))


def capture() -> list[Packet]:
    request = b"GET /login.php?next=%2F HTTP/1.1\r\nHost: app.city.gov:8080\r\nUser-Agent: sqlmap/1.8\r\n\r\n"
    return [
        tcp(CLIENT, SERVER, 40000, 80, "S", 0.0),
        tcp(SERVER, CLIENT, 80, 40000, "SA", 0.01),
        tcp(CLIENT, SERVER, 40000, 80, "A", 0.02),
        tcp(CLIENT, SERVER, 40000, 80, "PA", 0.03, request),
        tcp(SERVER, CLIENT, 80, 40000, "PA", 0.04, b"HTTP/1.1 403 Forbidden\r\n\r\n"),
        tcp(CLIENT, SERVER, 40000, 80, "FA", 0.05),
        tcp(SERVER, CLIENT, 80, 40000, "FA", 0.06),
        _at(
            Ether()
            / IP(src=CLIENT, dst=RESOLVER)
            / UDP(sport=5555, dport=53)
            / DNS(id=7, rd=1, qd=DNSQR(qname="x1y2z3.tunnel.example", qtype="TXT")),
            1.0,
        ),
        _at(
            Ether()
            / IP(src=RESOLVER, dst=CLIENT)
            / UDP(sport=53, dport=5555)
            / DNS(id=7, qr=1, rcode=3, qd=DNSQR(qname="x1y2z3.tunnel.example", qtype="TXT")),
            1.1,
        ),
        _at(
            Ether()
            / IP(src=RESOLVER, dst=CLIENT)
            / UDP(sport=53, dport=5556)
            / DNS(
                id=8,
                qr=1,
                qd=DNSQR(qname="city.gov"),
                an=DNSRR(rrname="city.gov", rdata="198.51.100.1"),
            ),
            1.2,
        ),
        tcp(CLIENT, SERVER, 40001, 443, "PA", 2.0, client_hello()),
        _at(
            Ether()
            / IPv6(src="2001:db8::1", dst="2001:db8::2")
            / UDP(sport=1000, dport=2000)
            / Raw(b"x" * 10),
            3.0,
        ),
        _at(Ether() / ARP(), 3.5),
        _at(
            Ether()
            / IP(src=CLIENT, dst=RESOLVER)
            / UDP(sport=5557, dport=53)
            / Raw(b"\x00\x01\x02"),
            4.0,
        ),
    ]


def by_action(events: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event.action") == action]


@pytest.fixture(params=["pcap", "pcapng"])
def sample(request: pytest.FixtureRequest, tmp_path: Path) -> bytes:
    path = tmp_path / f"sample.{request.param}"
    if request.param == "pcap":
        wrpcap(str(path), capture())
    else:
        writer = PcapNgWriter(str(path))
        for packet in capture():
            writer.write(packet)
        writer.close()
    return path.read_bytes()


def test_flows(sample: bytes) -> None:
    parser = PcapParser()
    events, _ = run(parser, sample)
    flows = {
        (e["source.port"], e["network.transport"]): e for e in by_action(events, "network_flow")
    }
    check(
        flows[(40000, "tcp")],
        {
            "@timestamp": "2026-03-01T08:00:00.000Z",
            "event.dataset": "pcap",
            "event.category": ["network"],
            "event.type": ["connection", "end"],
            "event.start": "2026-03-01T08:00:00.000Z",
            "event.end": "2026-03-01T08:00:00.060Z",
            "event.duration": 60_000_000,
            "source.ip": CLIENT,
            "destination.ip": SERVER,
            "destination.port": 80,
            "source.packets": 4,
            "destination.packets": 3,
            "network.packets": 7,
            "network.type": "ipv4",
            "source.tcp_flags": ["SYN", "ACK", "PSH", "FIN"],
            "destination.tcp_flags": ["SYN", "ACK", "PSH", "FIN"],
        },
    )
    http_bytes = len(capture()[3][IP])
    assert flows[(40000, "tcp")]["source.bytes"] == sum(
        len(p[IP]) for p in capture()[:7] if p[IP].src == CLIENT
    )
    assert flows[(40000, "tcp")]["source.bytes"] > http_bytes
    check(
        flows[(1000, "udp")],
        {"network.type": "ipv6", "source.ip": "2001:db8::1", "source.bytes": 58},
    )
    check(flows[(5555, "udp")], {"source.packets": 1, "destination.packets": 1})
    assert parser.stats["non_ip"] == 1


def test_http_request_with_its_status(sample: bytes) -> None:
    (http,) = by_action(run(PcapParser(), sample)[0], "http_request")
    check(
        http,
        {
            "@timestamp": "2026-03-01T08:00:00.030Z",
            "http.request.method": "GET",
            "url.path": "/login.php",
            "url.query": "next=%2F",
            "url.original": "/login.php?next=%2F",
            "url.domain": "app.city.gov",
            "user_agent.original": "sqlmap/1.8",
            "http.response.status_code": 403,
            "event.outcome": "failure",
            "source.ip": CLIENT,
            "destination.port": 80,
            "network.protocol": "http",
            "event.original": "sample.log#packet=3",
        },
    )


def test_dns_queries_and_answers(sample: bytes) -> None:
    events = run(PcapParser(), sample)[0]
    (query,) = by_action(events, "dns_query")
    nxdomain, answer = by_action(events, "dns_answer")
    check(
        query,
        {
            "dns.type": "query",
            "dns.id": 7,
            "dns.question.name": "x1y2z3.tunnel.example",
            "dns.question.type": "TXT",
            "dns.question.registered_domain": "tunnel.example",
            "dns.question.subdomain": "x1y2z3",
            "source.ip": CLIENT,
            "destination.port": 53,
            "network.transport": "udp",
        },
    )
    check(nxdomain, {"dns.response_code": "NXDOMAIN", "dns.type": "answer"})
    check(
        answer,
        {
            "dns.response_code": "NOERROR",
            "dns.answers.data": ["198.51.100.1"],
            "dns.answers.type": ["A"],
            "dns.resolved_ip": ["198.51.100.1"],
        },
    )


def test_tls_client_hello_sni_and_ja3(sample: bytes) -> None:
    (hello,) = by_action(run(PcapParser(), sample)[0], "tls_client_hello")
    expected_string = "771,4865-49199,0-10-11-43,29-23,0"
    check(
        hello,
        {
            "tls.client.server_name": "portal.city.gov",
            "destination.domain": "portal.city.gov",
            "tls.version": "1.3",
            "tls.client.supported_versions": ["1.3", "1.2"],
            "tls.client.ja3_string": expected_string,
            "tls.client.ja3": hashlib.md5(expected_string.encode()).hexdigest(),
            "tls.client.supported_ciphers": ["0x1301", "0xc02f"],
            "destination.port": 443,
        },
    )


def test_malformed_dns_is_dead_lettered(sample: bytes) -> None:
    events, rejected = run(PcapParser(), sample)
    assert [r.position for r in rejected] == ["dns:13"]
    assert rejected[0].original == b"\x00\x01\x02"
    assert len(events) == 6 + 1 + 3 + 1  # 6 flows, 1 http, 3 dns, 1 tls


def test_truncated_capture_keeps_what_was_read(sample: bytes) -> None:
    events, rejected = run(PcapParser(), sample[: len(sample) - 30])
    assert any("truncated" in r.reason for r in rejected)
    assert by_action(events, "http_request")


def test_idle_flows_are_emitted_and_table_is_bounded() -> None:
    import io

    from scapy.utils import PcapWriter

    buffer = io.BytesIO()
    writer = PcapWriter(buffer)
    for i in range(50):
        writer.write(
            _at(Ether() / IP(src=CLIENT, dst=SERVER) / UDP(sport=10000 + i, dport=9), i * 10.0)
        )
    writer.flush()
    parser = PcapParser(idle_timeout=5.0, max_flows=8)
    events, _ = run(parser, buffer.getvalue())
    assert len(events) == 50
    assert len({e["event.id"] for e in events}) == 50


def _pcap(packets: list[Packet]) -> bytes:
    import io

    from scapy.utils import PcapWriter

    buffer = io.BytesIO()
    writer = PcapWriter(buffer)
    for packet in packets:
        writer.write(packet)
    writer.flush()
    return buffer.getvalue()


def _teardown(port: int, t: float) -> list[Packet]:
    """Handshake, one request and response, FIN from each side (no final ACK yet)."""
    return [
        tcp(CLIENT, SERVER, port, 80, "S", t),
        tcp(SERVER, CLIENT, 80, port, "SA", t + 0.01),
        tcp(CLIENT, SERVER, port, 80, "A", t + 0.02),
        tcp(CLIENT, SERVER, port, 80, "PA", t + 0.03, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        tcp(SERVER, CLIENT, 80, port, "PA", t + 0.04, b"HTTP/1.1 200 OK\r\n\r\n"),
        tcp(CLIENT, SERVER, port, 80, "FA", t + 0.05),
        tcp(SERVER, CLIENT, 80, port, "FA", t + 0.06),
    ]


def _flows(events: list[dict[str, Any]], port: int) -> list[dict[str, Any]]:
    return [
        e
        for e in by_action(events, "network_flow")
        if port in (e["source.port"], e["destination.port"])
    ]


def test_last_ack_after_the_second_fin_belongs_to_the_closed_flow() -> None:
    packets = [*_teardown(40100, 0.0), tcp(CLIENT, SERVER, 40100, 80, "A", 0.07)]
    events, rejected = run(PcapParser(), _pcap(packets))
    assert rejected == []
    (flow,) = _flows(events, 40100)  # was two: the connection and a one-packet "flow"
    check(
        flow,
        {
            "source.ip": CLIENT,
            "source.port": 40100,
            "source.packets": 5,
            "destination.packets": 3,
            "network.packets": 8,
            "event.end": "2026-03-01T08:00:00.070Z",
            "event.original": "sample.log#packets=0..",  # positions from the first packet
        },
    )
    assert len(by_action(events, "http_request")) == 1


def test_rst_shortly_after_close_is_counted_in_the_closed_flow() -> None:
    packets = [
        *_teardown(40101, 0.0),
        tcp(CLIENT, SERVER, 40101, 80, "A", 0.07),
        tcp(CLIENT, SERVER, 40101, 80, "PA", 0.5, b"late"),  # a stray segment after close
        tcp(SERVER, CLIENT, 80, 40101, "R", 0.51),  # the server answers it with a RST
    ]
    events, _ = run(PcapParser(), _pcap(packets))
    (flow,) = _flows(events, 40101)
    check(flow, {"source.packets": 6, "destination.packets": 4})
    assert "RST" in flow["destination.tcp_flags"]


def test_rst_closed_flow_absorbs_repeated_rsts() -> None:
    packets = [
        tcp(CLIENT, SERVER, 40102, 443, "S", 0.0),
        tcp(SERVER, CLIENT, 443, 40102, "SA", 0.01),
        tcp(CLIENT, SERVER, 40102, 443, "R", 0.02),
        tcp(CLIENT, SERVER, 40102, 443, "R", 0.03),
        tcp(SERVER, CLIENT, 443, 40102, "A", 0.04),
    ]
    events, _ = run(PcapParser(), _pcap(packets))
    (flow,) = _flows(events, 40102)
    check(flow, {"source.packets": 3, "destination.packets": 2})


def test_closed_flow_is_emitted_when_time_wait_ends() -> None:
    dns = (
        Ether()
        / IP(src=CLIENT, dst=RESOLVER)
        / UDP(sport=5600, dport=53)
        / DNS(id=9, rd=1, qd=DNSQR(qname="city.gov"))
    )
    packets = [
        *_teardown(40103, 0.0),
        _at(dns, 5.0),  # any later packet: the closed flow's time is up
        tcp(CLIENT, SERVER, 40103, 80, "A", 10.0),  # far too late: a packet of its own
    ]
    events, _ = run(PcapParser(time_wait=2.0), _pcap(packets))
    flows = _flows(events, 40103)
    assert [f["network.packets"] for f in flows] == [7, 1]
    order = [e["event.action"] for e in events]
    # Emitted in time, not held to the end of the capture.
    assert order.index("network_flow") < order.index("dns_query")


def test_syn_on_a_closed_five_tuple_starts_a_new_flow() -> None:
    packets = [*_teardown(40104, 0.0), *_teardown(40104, 0.5)]
    events, _ = run(PcapParser(), _pcap(packets))
    flows = _flows(events, 40104)
    assert [(f["network.packets"], f["event.start"]) for f in flows] == [
        (7, "2026-03-01T08:00:00.000Z"),
        (7, "2026-03-01T08:00:00.500Z"),
    ]


def test_time_wait_zero_emits_at_close() -> None:
    packets = [*_teardown(40105, 0.0), tcp(CLIENT, SERVER, 40105, 80, "A", 0.07)]
    events, _ = run(PcapParser(time_wait=0.0), _pcap(packets))
    assert [f["network.packets"] for f in _flows(events, 40105)] == [7, 1]


def test_closed_flows_are_bounded() -> None:
    packets = [p for i in range(6) for p in _teardown(41000 + i, i * 0.1)]
    parser = PcapParser(max_flows=2)
    events, _ = run(parser, _pcap(packets))
    flows = by_action(events, "network_flow")
    assert sorted(f["source.port"] for f in flows) == [41000 + i for i in range(6)]
    assert all(f["network.packets"] == 7 for f in flows)
