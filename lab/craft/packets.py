"""scapy packets for the lab's captures: TCP probes and sessions, DNS exchanges.

Every function returns Ethernet frames with ``.time`` set (the pcap record's timestamp), in the
order a capture point between the hosts would see them. TCP follows RFC 9293's handshake and
teardown (an open port answers a SYN with SYN/ACK, a closed one with RST/ACK; a SYN scanner
resets a half-open connection instead of completing it); DNS follows RFC 1035 (a query with the
RD bit set, an answer echoing the question).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

#: Round trip between the capture point and a LAN host, in seconds.
RTT = 0.0004


def _stamp(packet: Packet, when: float) -> Packet:
    packet.time = when
    return packet


def _tcp(  # noqa: PLR0917 - reads like a packet listing
    src: str,
    dst: str,
    sport: int,
    dport: int,
    flags: str,
    when: float,
    seq: int = 0,
    ack: int = 0,
    data: bytes = b"",
) -> Packet:
    packet: Packet = (
        Ether()
        / IP(src=src, dst=dst, ttl=64)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240)
    )
    if data:
        packet = packet / Raw(data)
    return _stamp(packet, when)


def syn_probe(
    when: float,
    scanner: str,
    target: str,
    sport: int,
    dport: int,
    *,
    state: str = "closed",
) -> list[Packet]:
    """One SYN-scan probe: SYN, then SYN/ACK + scanner RST (open), RST/ACK (closed), or nothing.

    ``state`` is ``open``, ``closed`` or ``filtered`` (no answer: the flow ends with the capture).
    """
    seq = 0x1F2E3D4C ^ (dport << 8)
    out = [_tcp(scanner, target, sport, dport, "S", when, seq=seq)]
    if state == "open":
        out.append(_tcp(target, scanner, dport, sport, "SA", when + RTT, seq=0x7000, ack=seq + 1))
        out.append(_tcp(scanner, target, sport, dport, "R", when + 2 * RTT, seq=seq + 1))
    elif state == "closed":
        out.append(_tcp(target, scanner, dport, sport, "RA", when + RTT, ack=seq + 1))
    elif state != "filtered":
        raise ValueError(f"unknown port state {state!r}")
    return out


def tcp_session(  # noqa: PLR0917 - one session's facts
    when: float,
    client: str,
    server: str,
    cport: int,
    sport: int,
    request: bytes,
    response: bytes,
) -> list[Packet]:
    """A complete TCP conversation: handshake, one request and response, FIN/ACK teardown."""
    c, s = 0x11000, 0x22000
    t = when
    out = [
        _tcp(client, server, cport, sport, "S", t, seq=c),
        _tcp(server, client, sport, cport, "SA", t + RTT, seq=s, ack=c + 1),
        _tcp(client, server, cport, sport, "A", t + 2 * RTT, seq=c + 1, ack=s + 1),
        _tcp(client, server, cport, sport, "PA", t + 3 * RTT, c + 1, s + 1, request),
    ]
    c += 1 + len(request)
    out.append(_tcp(server, client, sport, cport, "A", t + 4 * RTT, seq=s + 1, ack=c))
    out.append(_tcp(server, client, sport, cport, "PA", t + 0.01, s + 1, c, response))
    s += 1 + len(response)
    out += [
        _tcp(client, server, cport, sport, "A", t + 0.01 + RTT, seq=c, ack=s),
        _tcp(client, server, cport, sport, "FA", t + 0.02, seq=c, ack=s),
        _tcp(server, client, sport, cport, "FA", t + 0.02 + RTT, seq=s, ack=c + 1),
        _tcp(client, server, cport, sport, "A", t + 0.02 + 2 * RTT, seq=c + 1, ack=s + 1),
    ]
    return out


def http_get(host: str, path: str, user_agent: str) -> bytes:
    """The head of an HTTP/1.1 GET as a browser sends it."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\n"
        "Accept: text/html,application/xhtml+xml\r\nAccept-Language: zh-CN,zh;q=0.9\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def http_ok(body: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def dns_exchange(
    when: float,
    client: str,
    resolver: str,
    sport: int,
    qname: str,
    *,
    qtype: str = "A",
    ident: int = 0x1234,
    answers: Sequence[tuple[str, Any]] = (),
    rcode: int = 0,
) -> list[Packet]:
    """A query (RD set) and its answer; ``answers`` are ``(type, rdata)`` for ``qname``.

    With no answers and ``rcode`` 0 this is NODATA; ``rcode`` 3 is NXDOMAIN.
    """
    question = DNSQR(qname=qname, qtype=qtype)
    query = Ether() / IP(src=client, dst=resolver) / UDP(sport=sport, dport=53)
    query = query / DNS(id=ident, rd=1, qd=question)
    records = [DNSRR(rrname=qname, type=kind, ttl=300, rdata=data) for kind, data in answers]
    reply_dns = DNS(id=ident, qr=1, rd=1, ra=1, rcode=rcode, qd=question)
    if records:
        reply_dns.an = records
    reply = Ether() / IP(src=resolver, dst=client) / UDP(sport=53, dport=sport) / reply_dns
    return [_stamp(query, when), _stamp(reply, when + 0.002)]
