"""A minimal, strict DER codec for the few ASN.1 structures SM2 needs.

Only definite-length, minimal encodings are accepted: a decoder that tolerates alternative
encodings of one value lets an attacker change the bytes of a signature or ciphertext without
changing its meaning (malleability), which breaks replay caches keyed on those bytes.
"""

from __future__ import annotations

from tulou.errors import InputError

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
BIT_STRING = 0x03
OID = 0x06


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    """Encode one tag-length-value."""
    return bytes([tag]) + _length(len(value)) + value


def integer(value: int) -> bytes:
    """Encode a non-negative INTEGER in its minimal form."""
    if value < 0:
        raise ValueError("negative integers are not used here")
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    # to_bytes above leaves exactly one sign byte when the top bit is set; strip a
    # redundant leading zero otherwise (minimal encoding).
    if len(body) > 1 and body[0] == 0 and body[1] < 0x80:
        body = body[1:]
    return tlv(INTEGER, body)


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def read_tlv(data: bytes, offset: int, what: str) -> tuple[int, bytes, int]:
    """Read one TLV at ``offset``: return (tag, value, next offset). Strict DER lengths."""
    if offset + 2 > len(data):
        raise InputError(f"{what}: truncated DER")
    tag = data[offset]
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise InputError(f"{what}: bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise InputError(f"{what}: non-minimal DER length")
        pos += count
    end = pos + length
    if end > len(data):
        raise InputError(f"{what}: truncated DER")
    return tag, data[pos:end], end


def read_integer(data: bytes, offset: int, what: str) -> tuple[int, int]:
    """Read a non-negative, minimally encoded INTEGER; return (value, next offset)."""
    tag, body, end = read_tlv(data, offset, what)
    if tag != INTEGER or not body:
        raise InputError(f"{what}: expected an INTEGER")
    if body[0] & 0x80:
        raise InputError(f"{what}: negative INTEGER")
    if len(body) > 1 and body[0] == 0 and body[1] < 0x80:
        raise InputError(f"{what}: non-minimal INTEGER")
    return int.from_bytes(body, "big"), end


def read_sequence(data: bytes, what: str) -> bytes:
    """The body of a SEQUENCE that must span ``data`` exactly (no trailing bytes)."""
    tag, body, end = read_tlv(data, 0, what)
    if tag != SEQUENCE or end != len(data):
        raise InputError(f"{what}: expected exactly one DER SEQUENCE")
    return body
