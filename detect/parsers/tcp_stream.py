"""Bounded TCP reassembly of one direction of a flow, for application heads that span segments.

Only what the capture parser needs: the bytes of an HTTP request head (up to its blank line)
or of DNS-over-TCP messages (2-byte length prefix), in order, from segments that may come
out of order, twice (retransmissions) or overlapping. Memory is bounded per stream
(:data:`MAX_BYTES` buffered in order plus :data:`MAX_BYTES` waiting out of order, at most
:data:`MAX_SEGMENTS` segments) and by the caller's budget across streams. What cannot be
reassembled is reported, never guessed: :meth:`TcpStream.add` returns the reason when the
stream must be given up (a gap that does not fill within the bounds, a head that is too long),
and the caller dead-letters the bytes it had.

Sequence numbers are compared modulo 2**32 (RFC 1982 serial arithmetic), so a stream that
wraps past 0 reassembles like any other.
"""

from __future__ import annotations

#: In-order bytes kept per stream (an HTTP head or a DNS message is never longer).
MAX_BYTES = 1 << 16
#: Out-of-order segments kept per stream.
MAX_SEGMENTS = 32
_MOD = 1 << 32


def _after(a: int, b: int) -> int:
    """How far sequence number ``a`` is after ``b`` (negative: before), modulo 2**32."""
    delta = (a - b) % _MOD
    return delta - _MOD if delta >= _MOD // 2 else delta


class TcpStream:
    """The in-order bytes of one direction, from ``seq`` on (see the module docstring)."""

    __slots__ = ("data", "first_packet", "next_seq", "waiting", "waiting_bytes")

    def __init__(self, seq: int, first_packet: int) -> None:
        self.next_seq = seq
        self.data = bytearray()
        self.waiting: dict[int, bytes] = {}
        self.waiting_bytes = 0
        self.first_packet = first_packet

    def size(self) -> int:
        """Bytes held (in order and waiting), for the caller's budget."""
        return len(self.data) + self.waiting_bytes

    def add(self, seq: int, payload: bytes) -> str | None:
        """Take one segment; ``None`` if all is well, else why the stream is given up."""
        ahead = _after(seq, self.next_seq)
        if ahead > 0:  # a gap before it: wait for the missing bytes
            if seq not in self.waiting:
                if (
                    len(self.waiting) >= MAX_SEGMENTS
                    or self.waiting_bytes + len(payload) > MAX_BYTES
                ):
                    return (
                        f"TCP gap of {ahead} bytes at seq {self.next_seq} not filled within "
                        f"{MAX_SEGMENTS} segments / {MAX_BYTES} bytes"
                    )
                self.waiting[seq] = payload
                self.waiting_bytes += len(payload)
            return None
        self._append(payload[-ahead:] if ahead < 0 else payload)  # drop what was seen before
        while self.waiting:
            progressed = False
            for start in list(self.waiting):
                offset = _after(start, self.next_seq)
                if offset > 0:
                    continue
                segment = self.waiting.pop(start)
                self.waiting_bytes -= len(segment)
                if -offset < len(segment):
                    self._append(segment[-offset:])
                progressed = True
            if not progressed:
                break
        if len(self.data) > MAX_BYTES:
            return f"more than {MAX_BYTES} bytes without the end of the message"
        return None

    def _append(self, part: bytes) -> None:
        self.data += part
        self.next_seq = (self.next_seq + len(part)) % _MOD

    def gap(self) -> str | None:
        """Why the stream is incomplete, when out-of-order data still waits for a gap."""
        if not self.waiting:
            return None
        first = min(self.waiting, key=lambda s: _after(s, self.next_seq))
        return f"{_after(first, self.next_seq)} bytes missing at seq {self.next_seq}"
