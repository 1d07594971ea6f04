"""pcap / pcapng captures to ECS network events: flows, DNS, HTTP requests, TLS ClientHellos.

Hot path: :mod:`detect.parsers.capture` (a struct-based reader and decoder; scapy is used only
to craft test captures, its per-packet dissection being ~20x too slow). State is bounded:

- flows live in a table keyed by the 5-tuple (the first packet's sender is ``source``); a flow
  is emitted when it has been idle for ``idle_timeout`` seconds of *capture* time, when the
  table holds ``max_flows`` (the least recently seen goes), or at the end of the capture;
- a TCP flow whose both sides sent FIN, or either sent RST, is *closed*: it moves to a
  TIME_WAIT-like table for ``time_wait`` seconds of capture time, where the connection's late
  packets (the last ACK after the second FIN, RSTs answering stray segments) are still counted
  in it, then it is emitted (at once if ``time_wait`` is 0). A SYN on a closed flow's 5-tuple
  is a new connection: the closed flow is emitted first. That table is bounded by
  ``max_flows`` too (the oldest closed flow goes first);
- an HTTP request waits for its response status in its flow (at most ``MAX_PENDING_HTTP`` per
  flow) and is emitted with it, or without it when the flow ends;
- an HTTP request head that does not end in its first segment, and DNS over TCP (port 53,
  2-byte length prefix), are reassembled per direction (:mod:`detect.parsers.tcp_stream`:
  in order, retransmissions and overlaps dropped, out-of-order segments held, bounded per
  stream and by ``reassembly_budget`` bytes across streams). What cannot be reassembled -- a
  gap that never fills, a head longer than the bound, a flow that ends mid-message, the budget
  spent -- is dead-lettered with the reason and the bytes held.

Positions (and so event ids) are ``<kind>:<packet index>``: ``flow:`` the flow's first packet,
``dns:``/``http:``/``tls:`` the packet carrying the message. A malformed DNS message, HTTP head,
TLS hello or IP header is rejected with its packet index; non-IP frames (ARP, LLDP...) are not
records and are only counted (``stats``).
"""

from __future__ import annotations

import struct
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar

from detect.model import Rejected, Source, new_event
from detect.parsers.base import Item
from detect.parsers.capture import (
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    CaptureError,
    Packet,
    TruncatedCapture,
    decode,
    ip_text,
    read_capture,
)
from detect.parsers.netproto import dns_fields, http_request, http_status, tls_client_hello
from detect.parsers.tcp_stream import TcpStream
from tulou.events import Event

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
FLAG_NAMES = (
    (TCP_SYN, "SYN"), (TCP_ACK, "ACK"), (TCP_PSH, "PSH"), (TCP_FIN, "FIN"), (TCP_RST, "RST"),
    (TCP_URG, "URG"),
)  # fmt: skip
#: ECS ``network.transport``: the IANA protocol keyword, lower-cased ("Same as
#: network.iana_number, but instead using the Keyword name of the transport layer");
#: numbers without a keyword here are written as the number (``network.iana_number`` always).
TRANSPORTS = {
    0: "hopopt", 1: "icmp", 2: "igmp", 3: "ggp", 4: "ipv4", 6: "tcp", 8: "egp", 9: "igp",
    17: "udp", 27: "rdp", 33: "dccp", 41: "ipv6", 46: "rsvp", 47: "gre", 50: "esp", 51: "ah",
    58: "ipv6-icmp", 59: "ipv6-nonxt", 88: "eigrp", 89: "ospfigp", 94: "ipip", 97: "etherip",
    98: "encap", 103: "pim", 108: "ipcomp", 112: "vrrp", 115: "l2tp", 132: "sctp",
    136: "udplite", 137: "mpls-in-ip",
}  # fmt: skip
MAX_PENDING_HTTP = 8
SWEEP_EVERY = 4096
DNS_PORTS = frozenset({53, 5353, 5355})
DNS_TCP_PORT = 53
#: Bytes all reassembling streams may hold together (each is bounded too).
REASSEMBLY_BUDGET = 64 << 20
_HTTP_METHODS = (
    b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ",
    b"TRACE ",
)  # fmt: skip

type FlowKey = tuple[int, bytes, int, bytes, int]


@dataclass(slots=True)
class Flow:
    key: FlowKey  # (proto, src, sport, dst, dport) as first seen
    first_index: int
    start: float
    end: float
    version: int
    packets: list[int] = field(default_factory=lambda: [0, 0])
    octets: list[int] = field(default_factory=lambda: [0, 0])
    flags: list[int] = field(default_factory=lambda: [0, 0])
    closed_at: float | None = None  # capture time of the closing FIN/RST (TIME_WAIT)
    pending_http: deque[tuple[int, float, dict[str, Any]]] = field(default_factory=deque)
    #: Reassembling streams per direction (``None`` until a segmented head needs one).
    streams: list[TcpStream | None] | None = None


class _Closed:
    """Closed TCP flows in TIME_WAIT: by key, and in the order they closed.

    ``order`` may hold entries whose flow already left ``flows`` (reused by a SYN): they are
    skipped when they come up, so each operation stays O(1) per flow.
    """

    __slots__ = ("flows", "order")

    def __init__(self) -> None:
        self.flows: dict[FlowKey, Flow] = {}
        self.order: deque[tuple[float, Flow]] = deque()

    def add(self, flow: Flow, at: float) -> None:
        flow.closed_at = at
        self.flows[flow.key] = flow
        self.order.append((at, flow))

    def evict(self, limit: int) -> Iterator[Flow]:
        """Release the oldest flows beyond ``limit``."""
        while len(self.flows) > limit:
            yield from self._pop()

    def expire(self, before: float) -> Iterator[Flow]:
        """Release the flows closed at or before ``before``, oldest first."""
        while self.order and self.order[0][0] <= before:
            yield from self._pop()

    def drain(self) -> Iterator[Flow]:
        while self.order:
            yield from self._pop()

    def _pop(self) -> Iterator[Flow]:
        _, flow = self.order.popleft()
        if self.flows.get(flow.key) is flow:
            del self.flows[flow.key]
            yield flow


#: "YYYY-MM-DDTHH:MM:SS." per whole second: packets arrive in time order, so most timestamps
#: share their second with the previous ones and only the milliseconds are formatted.
_SECONDS: dict[datetime, str] = {}
_SECONDS_MAX = 4096


def _moment(seconds: float) -> str:
    """``format_timestamp(datetime.fromtimestamp(seconds, UTC))``, with the second cached."""
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        moment = datetime.fromtimestamp(0, UTC)
    whole = moment.replace(microsecond=0)
    prefix = _SECONDS.get(whole)
    if prefix is None:
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        prefix = _SECONDS[whole] = whole.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{prefix}{moment.microsecond // 1000:03d}Z"


def _flag_names(bits: int) -> list[str]:
    return [name for bit, name in FLAG_NAMES if bits & bit]


class PcapParser:
    """Network captures (pcap, pcapng) to flow, DNS, HTTP and TLS events."""

    id: ClassVar[str] = "pcap"
    description: ClassVar[str] = "network captures (pcap, pcapng): flows, DNS, HTTP, TLS"
    #: A capture is immutable and its events span it: it is named by its whole content
    #: (detect.model.WHOLE_FILE).
    identity: ClassVar[str] = "whole-file"

    def __init__(
        self,
        idle_timeout: float = 120.0,
        max_flows: int = 65536,
        time_wait: float = 2.0,
        reassembly_budget: int = REASSEMBLY_BUDGET,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_flows = max_flows
        #: Seconds a closed TCP flow still takes its connection's late ACKs and RSTs.
        self.time_wait = time_wait
        self.reassembly_budget = reassembly_budget
        self._held = 0  # bytes held by reassembling streams
        self.stats = {"packets": 0, "non_ip": 0, "flows": 0, "tunnelled": 0, "reassembled": 0}

    def sniff(self, head: bytes) -> int:
        return 100 if head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC else 0

    def parse(self, stream: BinaryIO, source: Source) -> Iterator[Item]:
        flows: OrderedDict[FlowKey, Flow] = OrderedDict()
        closed = _Closed()
        index = -1
        now = 0.0
        try:
            for index, (now, linktype, frame) in enumerate(read_capture(stream)):
                self.stats["packets"] += 1
                try:
                    packet = decode(linktype, frame)
                except (ValueError, IndexError, struct.error) as exc:
                    yield Rejected(f"packet:{index}", f"undecodable IP packet: {exc}", frame[:512])
                    continue
                if packet is None:
                    self.stats["non_ip"] += 1
                    continue
                if packet.tunnels:
                    self.stats["tunnelled"] += 1
                yield from self._packet(source, flows, closed, index=index, now=now, packet=packet)
                if index % SWEEP_EVERY == 0:
                    yield from self._expire(source, flows, now)
        except TruncatedCapture as exc:
            yield Rejected(f"packet:{index + 1}", f"truncated capture: {exc}", b"")
        except CaptureError as exc:
            yield Rejected(f"packet:{index + 1}", f"unreadable capture: {exc}", b"")
        for flow in closed.drain():
            yield from self._close(source, flow)
        while flows:
            yield from self._close(source, flows.popitem(last=False)[1])

    def _packet(
        self,
        source: Source,
        flows: OrderedDict[FlowKey, Flow],
        closed: _Closed,
        *,
        index: int,
        now: float,
        packet: Packet,
    ) -> Iterator[Item]:
        if closed.order and now - closed.order[0][0] >= self.time_wait:
            for done in closed.expire(now - self.time_wait):
                yield from self._close(source, done)
        forward: FlowKey = (packet.proto, packet.src, packet.sport, packet.dst, packet.dport)
        flow = flows.get(forward)
        direction = 0
        if flow is None:
            backward: FlowKey = (packet.proto, packet.dst, packet.dport, packet.src, packet.sport)
            flow = flows.get(backward)
            direction = 1
        if flow is None and closed.flows:
            flow, direction = closed.flows.get(forward), 0
            if flow is None:
                flow, direction = closed.flows.get(backward), 1
            if flow is not None and packet.flags & TCP_SYN:
                # The 5-tuple is reused by a new connection: the old one is over.
                del closed.flows[flow.key]
                yield from self._close(source, flow)
                flow = None
        if flow is None:
            flow = Flow(forward, index, now, now, packet.version)
            flows[forward] = flow
            direction = 0
            if len(flows) > self.max_flows:
                yield from self._close(source, flows.popitem(last=False)[1])
        if flow.closed_at is None:
            flows.move_to_end(flow.key)
        flow.end = now
        flow.packets[direction] += 1
        flow.octets[direction] += packet.length
        flow.flags[direction] |= packet.flags
        payload = packet.payload
        if payload:
            if packet.proto == 17 and (packet.sport in DNS_PORTS or packet.dport in DNS_PORTS):
                yield self._app(source, index, now, packet, "dns", dns_fields, payload)
            elif packet.proto == 6 and flow.streams is not None and flow.streams[direction]:
                yield from self._reassemble(source, flow, direction, index, now, packet)
            elif packet.proto == 6 and DNS_TCP_PORT in (packet.sport, packet.dport):
                yield from self._start(source, flow, direction, index, now, packet)
            elif packet.proto == 6:
                first = payload[0]
                if first == 0x16:
                    item = self._app(source, index, now, packet, "tls", tls_client_hello, payload)
                    if item is not None:
                        yield item
                elif first == 0x48 and payload.startswith(b"HTTP/"):  # a response: "H"
                    status = http_status(payload)
                    if status is not None and flow.pending_http:
                        at, when, fields = flow.pending_http.popleft()
                        fields["http.response.status_code"] = status
                        fields["event.outcome"] = "success" if status < 400 else "failure"
                        yield self._http_event(source, at, when, fields)
                elif (
                    0x41 <= first <= 0x5A
                    and b"\r\n\r\n" not in payload
                    and payload.startswith(_HTTP_METHODS)
                ):  # a request head that goes on in the next segments
                    yield from self._start(source, flow, direction, index, now, packet)
                elif 0x41 <= first <= 0x5A:  # a request starts with an upper-case method
                    item = self._app(source, index, now, packet, "http", http_request, payload)
                    if isinstance(item, Rejected):
                        yield item
                    elif item is not None:
                        if len(flow.pending_http) >= MAX_PENDING_HTTP:
                            at, when, fields = flow.pending_http.popleft()
                            yield self._http_event(source, at, when, fields)
                        flow.pending_http.append((index, now, item))
        if (
            packet.proto == 6
            and flow.closed_at is None
            and (packet.flags & TCP_RST or (flow.flags[0] & TCP_FIN and flow.flags[1] & TCP_FIN))
        ):
            del flows[flow.key]
            if self.time_wait <= 0:
                yield from self._close(source, flow)
                return
            closed.add(flow, now)
            if len(closed.flows) > self.max_flows:
                for evicted in closed.evict(self.max_flows):
                    yield from self._close(source, evicted)

    def _app(  # noqa: PLR0917
        self,
        source: Source,
        index: int,
        now: float,
        packet: Packet,
        kind: str,
        decoder: Any,
        payload: bytes,
        position: str | None = None,
    ) -> Any:
        position = position or f"{kind}:{index}"
        try:
            fields = decoder(payload)
        except (ValueError, IndexError, struct.error, UnicodeError) as exc:
            return Rejected(position, f"malformed {kind}: {exc}", payload[:2048])
        if fields is None:
            return None
        fields.update(self._endpoints(packet))
        if kind == "http":
            return fields
        if kind == "dns":
            fields.update(
                {
                    "event.category": ["network"],
                    "event.type": ["protocol"],
                    "network.protocol": "dns",
                }
            )
            fields["event.action"] = "dns_" + fields["dns.type"]
        else:
            fields.update(
                {
                    "event.category": ["network"],
                    "event.type": ["protocol"],
                    "network.protocol": "tls",
                }
            )
            fields["event.action"] = "tls_client_hello"
            fields["destination.domain"] = fields.get("tls.client.server_name")
        fields["event.kind"] = "event"
        return new_event(
            self.id,
            source,
            position,
            _moment(now),
            f"{source.name}#packet={index}",
            fields,
        )

    def _start(  # noqa: PLR0917
        self, source: Source, flow: Flow, direction: int, index: int, now: float, packet: Packet
    ) -> Iterator[Item]:
        """Begin reassembling this direction at this segment (DNS over TCP, a split head)."""
        if self._held + len(packet.payload) > self.reassembly_budget:
            kind = "dns" if DNS_TCP_PORT in (packet.sport, packet.dport) else "http"
            yield Rejected(
                f"{kind}:{index}",
                f"TCP reassembly budget of {self.reassembly_budget} bytes spent: "
                "segmented message not reassembled",
                packet.payload[:2048],
            )
            return
        if flow.streams is None:
            flow.streams = [None, None]
        flow.streams[direction] = TcpStream(packet.seq, index)
        yield from self._reassemble(source, flow, direction, index, now, packet)

    def _reassemble(  # noqa: PLR0917
        self, source: Source, flow: Flow, direction: int, index: int, now: float, packet: Packet
    ) -> Iterator[Item]:
        assert flow.streams is not None
        stream = flow.streams[direction]
        assert stream is not None
        dns = DNS_TCP_PORT in (packet.sport, packet.dport)
        before = stream.size()
        problem = stream.add(packet.seq, packet.payload)
        self._held += stream.size() - before
        kind = "dns" if dns else "http"
        if problem is not None:
            yield self._give_up(flow, direction, f"{kind}:{stream.first_packet}", problem)
            return
        data = stream.data
        if dns:
            count = 0
            while len(data) >= 2 and len(data) >= 2 + ((data[0] << 8) | data[1]):
                size = (data[0] << 8) | data[1]
                message = bytes(data[2 : 2 + size])
                del data[: 2 + size]
                position = f"dns:{index}" if count == 0 else f"dns:{index}.{count}"
                count += 1
                self._held -= 2 + size
                item = self._app(source, index, now, packet, "dns", dns_fields, message, position)
                if item is not None:
                    yield item
            return
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(data[: end + 4])
        first = stream.first_packet
        self._drop(flow, direction)
        self.stats["reassembled"] += 1
        item = self._app(source, first, now, packet, "http", http_request, head, f"http:{first}")
        if isinstance(item, Rejected):
            yield item
        elif item is not None:
            if len(flow.pending_http) >= MAX_PENDING_HTTP:
                at, when, fields = flow.pending_http.popleft()
                yield self._http_event(source, at, when, fields)
            flow.pending_http.append((first, now, item))

    def _drop(self, flow: Flow, direction: int) -> None:
        assert flow.streams is not None
        stream = flow.streams[direction]
        if stream is not None:
            self._held -= stream.size()
            flow.streams[direction] = None

    def _give_up(self, flow: Flow, direction: int, position: str, reason: str) -> Rejected:
        assert flow.streams is not None
        stream = flow.streams[direction]
        held = bytes(stream.data[:2048]) if stream is not None else b""
        self._drop(flow, direction)
        return Rejected(position, f"TCP reassembly failed: {reason}", held)

    def _http_event(self, source: Source, index: int, when: float, fields: dict[str, Any]) -> Event:
        fields.update(
            {
                "event.kind": "event",
                "event.category": ["network", "web"],
                "event.type": ["protocol", "access"],
                "event.action": "http_request",
                "network.protocol": "http",
            }
        )
        return new_event(
            self.id, source, f"http:{index}", _moment(when), f"{source.name}#packet={index}", fields
        )

    @staticmethod
    def _endpoints(packet: Packet) -> dict[str, Any]:
        src, dst = ip_text(packet.src), ip_text(packet.dst)
        return {
            "source.ip": src,
            "source.port": packet.sport if packet.proto in (6, 17) else None,
            "destination.ip": dst,
            "destination.port": packet.dport if packet.proto in (6, 17) else None,
            "network.transport": TRANSPORTS.get(packet.proto, str(packet.proto)),
            "network.iana_number": str(packet.proto),
            "network.type": f"ipv{packet.version}",
            "related.ip": [src, dst],
        }

    def _expire(
        self, source: Source, flows: OrderedDict[FlowKey, Flow], now: float
    ) -> Iterator[Item]:
        while flows:
            oldest = next(iter(flows.values()))
            if now - oldest.end < self.idle_timeout:
                return
            flows.popitem(last=False)
            yield from self._close(source, oldest)

    def _close(self, source: Source, flow: Flow) -> Iterator[Item]:
        for direction, stream in enumerate(flow.streams or ()):
            if stream is not None and (stream.data or stream.waiting):
                dns = DNS_TCP_PORT in (flow.key[2], flow.key[4])
                what = "DNS message" if dns else "HTTP request head"
                why = stream.gap() or "no more data"
                yield self._give_up(
                    flow,
                    direction,
                    f"{'dns' if dns else 'http'}:{stream.first_packet}",
                    f"the flow ended inside a {what} ({why})",
                )
            elif stream is not None:
                self._drop(flow, direction)
        for at, when, request in flow.pending_http:
            yield self._http_event(source, at, when, request)
        flow.pending_http.clear()
        self.stats["flows"] += 1
        proto, src, sport, dst, dport = flow.key
        ports = proto in (6, 17)
        src_ip, dst_ip = ip_text(src), ip_text(dst)
        fields: dict[str, Any] = {
            "event.kind": "event",
            "event.category": ["network"],
            "event.type": ["connection", "end"],
            "event.action": "network_flow",
            "event.start": _moment(flow.start),
            "event.end": _moment(flow.end),
            "event.duration": round((flow.end - flow.start) * 1e6) * 1000,  # µs: pcap precision
            "source.ip": src_ip,
            "source.port": sport if ports else None,
            "source.packets": flow.packets[0],
            "source.bytes": flow.octets[0],
            "destination.ip": dst_ip,
            "destination.port": dport if ports else None,
            "destination.packets": flow.packets[1],
            "destination.bytes": flow.octets[1],
            "network.transport": TRANSPORTS.get(proto, str(proto)),
            "network.iana_number": str(proto),
            "network.type": f"ipv{flow.version}",
            "network.packets": flow.packets[0] + flow.packets[1],
            "network.bytes": flow.octets[0] + flow.octets[1],
            "related.ip": [src_ip, dst_ip] if src_ip != dst_ip else [src_ip],
        }
        if proto == 6:
            fields["network.tcp_flags"] = _flag_names(flow.flags[0] | flow.flags[1])
            fields["source.tcp_flags"] = _flag_names(flow.flags[0])
            fields["destination.tcp_flags"] = _flag_names(flow.flags[1])
        yield new_event(
            self.id,
            source,
            f"flow:{flow.first_index}",
            _moment(flow.start),
            f"{source.name}#packets={flow.first_index}..",
            fields,
        )
