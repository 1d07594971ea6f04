"""The strict DER codec: canonical encodings round-trip, every alternative encoding is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import _der
from tulou.errors import InputError


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=2**300))
def test_integer_round_trip(value: int) -> None:
    encoded = _der.sequence(_der.integer(value))
    body = _der.read_sequence(encoded, "t")
    assert _der.read_integer(body, 0, "t") == (value, len(body))


def test_known_encodings() -> None:
    assert _der.integer(0) == bytes.fromhex("020100")
    assert _der.integer(127) == bytes.fromhex("02017f")
    assert _der.integer(128) == bytes.fromhex("02020080")
    assert _der.tlv(0x04, bytes(200))[:3] == bytes.fromhex("0481c8")


@pytest.mark.parametrize(
    "hexdata",
    [
        "3003020000",  # INTEGER with an empty body... inside a short sequence
        "30030201",  # truncated
        "300402020001",  # non-minimal INTEGER (leading zero before a small byte)
        "3003020180",  # negative INTEGER
        "30810302017f",  # non-minimal length (long form for a short length)
        "3003020101ff",  # trailing bytes after the SEQUENCE
        "3180",  # not a SEQUENCE, indefinite length
    ],
)
def test_alternative_or_broken_encodings_are_refused(hexdata: str) -> None:
    data = bytes.fromhex(hexdata)
    with pytest.raises(InputError):
        body = _der.read_sequence(data, "t")
        _der.read_integer(body, 0, "t")
