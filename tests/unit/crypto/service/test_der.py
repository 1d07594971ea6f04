"""The PKI DER reader: strictness and Hypothesis fuzzing of the certificate/CSR/TSA parsers."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.service import der, tsa, x509
from tulou.errors import InputError, VerificationError


def test_oid_and_time_round_trips() -> None:
    for dotted in ("1.2.156.10197.1.501", "2.5.29.19", "1.2.840.113549.1.9.16.1.4", "2.999.1"):
        assert der.parse(der.oid(dotted)).as_oid() == dotted
    moment = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert der.parse(der.time_value(moment)).as_time() == moment
    late = datetime(2050, 1, 1, tzinfo=UTC)
    assert der.parse(der.time_value(late)).tag == der.GENERALIZED_TIME
    precise = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    assert der.parse(der.generalized_time(precise)).as_time() == precise


def test_strict_lengths_and_trailing_bytes() -> None:
    with pytest.raises(InputError):
        der.parse(b"\x30\x81\x03\x02\x01\x01")  # non-minimal length
    with pytest.raises(InputError):
        der.parse(der.seq(der.integer(1)) + b"\x00")


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_pki_parsers_raise_only_input_or_verification_errors(data: bytes) -> None:
    for parse in (x509.parse_certificate, x509.parse_csr, x509.parse_crl, tsa.parse_request):
        with contextlib.suppress(InputError, VerificationError):
            parse(data)


def test_timestamp_request_round_trip_and_limits() -> None:
    from crypto.sm3 import sm3

    parsed = tsa.parse_request(tsa.request(sm3(b"x"), nonce=99))
    assert (parsed.imprint, parsed.nonce, parsed.cert_req) == (sm3(b"x"), 99, True)
    with pytest.raises(InputError, match="length"):
        tsa.parse_request(tsa.request(b"short"))
    with pytest.raises(InputError, match="unsupported"):
        tsa.parse_request(tsa.request(bytes(20), hash_oid="1.3.14.3.2.26"))
