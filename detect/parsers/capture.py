"""Streaming readers for pcap and pcapng files, and the link/IP/TCP/UDP decoder.

Both readers read fixed-size chunks and never hold more than one chunk plus one packet, so
memory stays flat on captures of any size. They yield ``(timestamp, linktype, data)``; a file
that ends in the middle of a record raises :class:`TruncatedCapture` after the last complete
packet. :func:`decode` turns a frame into a :class:`Packet` with addresses kept as raw bytes
(converted to text only when an event is built -- the hot path allocates little).

Tunnels are unwrapped: GRE (RFC 2784/2890: checksum, key and sequence fields skipped) carrying
IPv4, IPv6 or Ethernet (transparent bridging, 0x6558), and Cisco ERSPAN type I (GRE 0x88BE
without a sequence number: Ethernet follows at once), type II (0x88BE, 8-byte header) and
type III (0x22EB, 12-byte header, plus the 8-byte platform subheader when its O flag is set).
The packet is the innermost one (what was mirrored or tunnelled), up to
:data:`MAX_TUNNEL_DEPTH` levels; a GRE version or payload type it does not know stays a GRE
packet (``proto`` 47).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
CHUNK = 1 << 20
MAX_RECORD = 1 << 26  # a record claiming more than 64 MiB is corrupt, not a packet

LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_RAW2, LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2 = (
    0, 1, 101, 12, 113, 228, 229, 276,
)  # fmt: skip


class CaptureError(ValueError):
    """The file is not a capture this reader understands."""


class TruncatedCapture(CaptureError):
    """The file ends in the middle of a record (the packets before it were all yielded)."""


class _Chunks:
    def __init__(self, stream: BinaryIO, first: bytes = b"") -> None:
        self.stream = stream
        self.buf = first
        self.pos = 0
        self.offset = 0  # file offset of buf[0]

    def take(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes, ``None`` at a clean end, TruncatedCapture mid-record."""
        end = self.pos + size
        if end > len(self.buf):
            rest = self.buf[self.pos :]
            self.offset += self.pos
            more = self.stream.read(max(CHUNK, size))
            self.buf = rest + more
            self.pos = 0
            end = size
            if len(self.buf) < size:
                if not self.buf:
                    return None
                raise TruncatedCapture(f"file ends inside a record at byte {self.offset}")
        data = self.buf[self.pos : end]
        self.pos = end
        return data


def read_capture(stream: BinaryIO) -> Iterator[tuple[float, int, bytes]]:
    """Packets of a pcap or pcapng stream, in file order."""
    magic = stream.read(4)
    if magic in PCAP_MAGICS:
        yield from _pcap(stream, magic)
    elif magic == PCAPNG_MAGIC:
        yield from _pcapng(stream)
    else:
        raise CaptureError("not a pcap or pcapng file")


def _pcap(stream: BinaryIO, magic: bytes) -> Iterator[tuple[float, int, bytes]]:
    endian, resolution = PCAP_MAGICS[magic]
    header = stream.read(20)
    if len(header) < 20:
        raise TruncatedCapture("pcap header is cut short")
    linktype = struct.unpack(endian + "HHiIII", header)[5] & 0x0FFFFFFF
    record = struct.Struct(endian + "IIII")
    chunks = _Chunks(stream)
    while True:
        head = chunks.take(16)
        if head is None:
            return
        seconds, fraction, caplen, _ = record.unpack(head)
        if caplen > MAX_RECORD:
            raise CaptureError(f"record length {caplen} is implausible")
        data = chunks.take(caplen)
        if data is None:
            raise TruncatedCapture("file ends inside a record")
        yield seconds + fraction * resolution, linktype, data


def _pcapng(stream: BinaryIO) -> Iterator[tuple[float, int, bytes]]:
    chunks = _Chunks(stream, PCAPNG_MAGIC)
    endian = "<"
    interfaces: list[tuple[int, float]] = []
    while True:
        head = chunks.take(8)
        if head is None:
            return
        if head[:4] == PCAPNG_MAGIC:
            bom = chunks.take(4)
            if bom is None:
                raise TruncatedCapture("section header is cut short")
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise CaptureError("bad pcapng byte-order magic")
            (length,) = struct.unpack(endian + "I", head[4:])
            body_len = length - 12
            interfaces = []
        else:
            kind, length = struct.unpack(endian + "II", head)
            body_len = length - 8
        if length < 12 or length > MAX_RECORD or length % 4:
            raise CaptureError(f"bad pcapng block length {length}")
        body = chunks.take(body_len)
        if body is None:
            raise TruncatedCapture("file ends inside a block")
        if head[:4] == PCAPNG_MAGIC:
            continue
        if kind == 1:  # interface description
            linktype = struct.unpack_from(endian + "H", body)[0]
            interfaces.append((linktype, _tsresol(body, endian)))
        elif kind in (6, 3):  # enhanced packet, simple packet
            if kind == 6:
                iface, high, low, caplen = struct.unpack_from(endian + "IIII", body)
                data = body[20 : 20 + caplen]
                if iface >= len(interfaces):
                    raise CaptureError(f"packet names unknown interface {iface}")
                linktype, resolution = interfaces[iface]
                yield ((high << 32) | low) * resolution, linktype, data
            else:
                if not interfaces:
                    raise CaptureError("simple packet before any interface")
                (original,) = struct.unpack_from(endian + "I", body)
                yield 0.0, interfaces[0][0], body[4 : 4 + min(original, len(body) - 8)]


def _tsresol(body: bytes, endian: str) -> float:
    pos = 8
    while pos + 4 <= len(body) - 4:
        code, size = struct.unpack_from(endian + "HH", body, pos)
        if code == 0:
            break
        if code == 9 and size >= 1:
            value = body[pos + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
        pos += 4 + ((size + 3) & ~3)
    return 1e-6


@dataclass(slots=True)
class Packet:
    """One decoded IP packet. ``proto`` 6 TCP, 17 UDP, other numbers as in IP; ``seq`` is the
    TCP sequence number (0 for other protocols); ``tunnels`` how many were unwrapped."""

    version: int
    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    flags: int
    length: int
    payload: bytes
    seq: int = 0
    tunnels: int = 0


MAX_TUNNEL_DEPTH = 4
GRE_IPV4, GRE_IPV6, GRE_TEB, GRE_ERSPAN, GRE_ERSPAN3 = 0x0800, 0x86DD, 0x6558, 0x88BE, 0x22EB


_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIBB")


def ip_text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def decode(linktype: int, frame: bytes, depth: int = 0) -> Packet | None:
    """The IP packet in ``frame``; ``None`` for non-IP frames; ValueError/struct.error if cut."""
    if linktype == LINK_ETHERNET:
        ethertype = (frame[12] << 8) | frame[13]
        offset = 14
        while ethertype in (0x8100, 0x88A8):
            ethertype = (frame[offset + 2] << 8) | frame[offset + 3]
            offset += 4
    elif linktype in (LINK_RAW, LINK_RAW2, LINK_IPV4, LINK_IPV6):
        ethertype, offset = (0x86DD if frame[0] >> 4 == 6 else 0x0800), 0
    elif linktype == LINK_SLL:
        ethertype, offset = (frame[14] << 8) | frame[15], 16
    elif linktype == LINK_SLL2:
        ethertype, offset = (frame[0] << 8) | frame[1], 20
    elif linktype == LINK_NULL:
        family = frame[0] or frame[3]
        ethertype, offset = (0x0800 if family == 2 else 0x86DD), 4
    else:
        return None
    if ethertype == 0x0800:
        vihl, _, total, _, frag, _, proto, _, src, dst = _IPV4.unpack_from(frame, offset)
        if vihl >> 4 != 4:
            raise ValueError("IPv4 header with a bad version")
        start = offset + (vihl & 0x0F) * 4
        end = min(len(frame), offset + total) if total else len(frame)
        version = 4
        if frag & 0x1FFF:  # a later fragment: no transport header
            return Packet(4, src, dst, proto, 0, 0, 0, end - offset, b"")
    elif ethertype == 0x86DD:
        if len(frame) < offset + 40:
            raise ValueError("IPv6 header is cut short")
        payload_len = (frame[offset + 4] << 8) | frame[offset + 5]
        proto = frame[offset + 6]
        src, dst = frame[offset + 8 : offset + 24], frame[offset + 24 : offset + 40]
        start = offset + 40
        end = min(len(frame), start + payload_len)
        while proto in (0, 43, 60) and start + 8 <= end:  # hop-by-hop, routing, dest options
            proto, start = frame[start], start + (frame[start + 1] + 1) * 8
        version = 6
    else:
        return None
    if proto == 6:
        sport, dport, seq, _, data_off, flags = _TCP.unpack_from(frame, start)
        body = start + (data_off >> 4) * 4
        return Packet(version, src, dst, 6, sport, dport, flags, end - offset, frame[body:end], seq)
    if proto == 17:
        sport, dport = _PORTS.unpack_from(frame, start)
        return Packet(version, src, dst, 17, sport, dport, 0, end - offset, frame[start + 8 : end])
    if proto == 47 and depth < MAX_TUNNEL_DEPTH:
        inner = _gre(frame[start:end], depth)
        if inner is not None:
            return inner
    return Packet(version, src, dst, proto, 0, 0, 0, end - offset, b"")


def _gre(gre: bytes, depth: int) -> Packet | None:
    """The packet inside a GRE (or ERSPAN-over-GRE) payload; ``None`` if not unwrappable."""
    flags, kind = struct.unpack_from("!HH", gre)
    if flags & 0x0007:  # version 1 is PPTP's enhanced GRE: not a tunnel of IP frames
        return None
    offset = 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
    if kind in (GRE_IPV4, GRE_IPV6):
        inner = decode(LINK_RAW, gre[offset:], depth + 1)
    elif kind == GRE_TEB:
        inner = decode(LINK_ETHERNET, gre[offset:], depth + 1)
    elif kind == GRE_ERSPAN:
        # Type II has a sequence number (S flag) and an 8-byte header; type I has neither.
        if flags & 0x1000:
            if gre[offset] >> 4 != 1:
                raise ValueError(f"ERSPAN version {gre[offset] >> 4} under GRE 0x88BE")
            offset += 8
        inner = decode(LINK_ETHERNET, gre[offset:], depth + 1)
    elif kind == GRE_ERSPAN3:
        if gre[offset] >> 4 != 2:
            raise ValueError(f"ERSPAN version {gre[offset] >> 4} under GRE 0x22EB")
        platform = gre[offset + 11] & 0x01  # O flag: an 8-byte platform subheader follows
        inner = decode(LINK_ETHERNET, gre[offset + 12 + 8 * platform :], depth + 1)
    else:
        return None
    if inner is not None:
        inner.tunnels += 1
    return inner
