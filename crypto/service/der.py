"""DER for the PKI structures (X.509, CRL, CSR, CMS, RFC 3161): builders and a strict reader.

The reader accepts definite, minimal lengths only (:func:`crypto._der.read_tlv`) and keeps
each node's exact bytes (``raw``), because signatures cover encodings, not meanings: what is
verified is always the bytes as received. Builders produce DER (SET OF sorted by encoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from crypto import _der
from tulou.errors import InputError

BOOLEAN: Final = 0x01
INTEGER: Final = 0x02
BIT_STRING: Final = 0x03
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
OID: Final = 0x06
ENUMERATED: Final = 0x0A
UTF8: Final = 0x0C
PRINTABLE: Final = 0x13
IA5: Final = 0x16
UTC_TIME: Final = 0x17
GENERALIZED_TIME: Final = 0x18
SEQUENCE: Final = 0x30
SET: Final = 0x31
_MAX_DEPTH: Final = 32


def tlv(tag: int, value: bytes) -> bytes:
    return _der.tlv(tag, value)


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(SET, b"".join(sorted(items)))


def integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative INTEGER")
    return _der.integer(value)


def boolean(value: bool) -> bytes:
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def null() -> bytes:
    return b"\x05\x00"


def octets(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def bits(value: bytes, unused: int = 0) -> bytes:
    return tlv(BIT_STRING, bytes([unused]) + value)


def utf8(text: str) -> bytes:
    return tlv(UTF8, text.encode())


def ia5(text: str) -> bytes:
    return tlv(IA5, text.encode("ascii"))


def explicit(number: int, inner: bytes) -> bytes:
    return tlv(0xA0 | number, inner)


def implicit(number: int, inner_value: bytes, *, constructed: bool = True) -> bytes:
    return tlv((0xA0 if constructed else 0x80) | number, inner_value)


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2:
        raise ValueError(f"bad OID {dotted}")
    body = bytearray()
    for arc in [parts[0] * 40 + parts[1], *parts[2:]]:
        rest = arc
        chunk = [rest & 0x7F]
        rest >>= 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID, bytes(body))


def time_value(moment: datetime) -> bytes:
    """UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 clause 4.1.2.5)."""
    moment = moment.astimezone(UTC)
    if moment.year < 2050:
        return tlv(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode())


def generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime with millisecond precision when there is one (RFC 3161 genTime)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y%m%d%H%M%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}".rstrip("0").rstrip(".")
    return tlv(GENERALIZED_TIME, (text + "Z").encode())


@dataclass(frozen=True, slots=True)
class Node:
    """One parsed TLV: ``tag``, content ``value``, the whole encoding ``raw``."""

    tag: int
    value: bytes
    raw: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[Node]:
        if not self.constructed:
            raise InputError(f"DER: tag 0x{self.tag:02x} is not constructed")
        return parse_all(self.value)

    def child(self, index: int, tag: int | None = None) -> Node:
        kids = self.children()
        if index >= len(kids):
            raise InputError("DER: missing element")
        if tag is not None and kids[index].tag != tag:
            raise InputError(f"DER: expected tag 0x{tag:02x}, found 0x{kids[index].tag:02x}")
        return kids[index]

    def as_int(self) -> int:
        value, _ = _der.read_integer(self.raw, 0, "DER INTEGER")
        return value

    def as_oid(self) -> str:
        if self.tag != OID or not self.value:
            raise InputError("DER: expected an OBJECT IDENTIFIER")
        numbers, current = [], 0
        for byte in self.value:
            current = (current << 7) | (byte & 0x7F)
            if not byte & 0x80:
                numbers.append(current)
                current = 0
        first = min(numbers[0] // 40, 2)
        return ".".join(str(n) for n in [first, numbers[0] - 40 * first, *numbers[1:]])

    def as_bits(self) -> bytes:
        if self.tag != BIT_STRING or not self.value or self.value[0] != 0:
            raise InputError("DER: expected a BIT STRING without unused bits")
        return self.value[1:]

    def as_time(self) -> datetime:
        text = self.value.decode("ascii", errors="replace")
        try:
            if self.tag == UTC_TIME:
                moment = datetime.strptime(text, "%y%m%d%H%M%SZ")
            elif self.tag == GENERALIZED_TIME:
                base, _, frac = text.rstrip("Z").partition(".")
                moment = datetime.strptime(base, "%Y%m%d%H%M%S")
                if frac:
                    moment = moment.replace(microsecond=int((frac + "000000")[:6]))
            else:
                raise InputError("DER: expected a time")
        except ValueError:
            raise InputError(f"DER: bad time {text!r}") from None
        return moment.replace(tzinfo=UTC)


def parse(data: bytes, what: str = "DER") -> Node:
    """Exactly one TLV spanning ``data``."""
    tag, value, end = _der.read_tlv(data, 0, what)
    if end != len(data):
        raise InputError(f"{what}: trailing bytes after the DER value")
    if tag & 0x1F == 0x1F:
        raise InputError(f"{what}: multi-byte tags are not used here")
    return Node(tag, value, data)


def parse_all(data: bytes, what: str = "DER") -> list[Node]:
    out, offset = [], 0
    while offset < len(data):
        tag, value, end = _der.read_tlv(data, offset, what)
        out.append(Node(tag, value, data[offset:end]))
        offset = end
    return out


ATTRIBUTE_NAMES: Final = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
}  # fmt: skip
_BY_NAME: Final = {v: k for k, v in ATTRIBUTE_NAMES.items()}


def name(pairs: list[tuple[str, str]]) -> bytes:
    """An X.501 Name from (attribute, value) pairs, e.g. [("C", "CN"), ("CN", "x")]."""
    rdns = []
    for attr, value in pairs:
        if attr not in _BY_NAME:
            raise ValueError(f"unknown name attribute {attr}")
        string = tlv(PRINTABLE, value.encode()) if attr == "C" else utf8(value)
        rdns.append(set_of(seq(oid(_BY_NAME[attr]), string)))
    return seq(*rdns)


def name_text(node: Node) -> str:
    """A readable ``CN=x,O=y`` form of a Name (for display and audit only)."""
    parts = []
    for rdn in node.children():
        for atv in rdn.children():
            attr = atv.child(0, OID).as_oid()
            value = atv.child(1).value.decode("utf-8", errors="replace")
            parts.append(f"{ATTRIBUTE_NAMES.get(attr, attr)}={value}")
    return ",".join(parts)
