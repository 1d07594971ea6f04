"""The ciphertext and tag formats: round trips, bindings and Hypothesis fuzzing of the parser."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.service import dataapi
from crypto.service.errors import ServiceError
from crypto.service.vault import KeyPath, Material

PATH = KeyPath("hr", "records", "files")


def material(version: int = 1, path: KeyPath = PATH) -> Material:
    return Material(path, version, "sm4", bytes(range(16)), None)


@given(
    st.binary(max_size=3000),
    st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=5),
)
@settings(max_examples=60, deadline=None)
def test_round_trip_and_context_binding(plaintext: bytes, context: dict[str, str]) -> None:
    blob = dataapi.encrypt(material(), plaintext, context)
    parsed = dataapi.parse_ciphertext(blob)
    assert (parsed.path, parsed.version) == (PATH, 1)
    assert dataapi.decrypt(material(), parsed, context) == plaintext
    with pytest.raises(ServiceError, match="context"):
        dataapi.decrypt(material(), parsed, {**context, "extra": "x"})


def test_header_binds_key_and_version() -> None:
    blob = dataapi.encrypt(material(), b"x", None)
    parsed = dataapi.parse_ciphertext(blob)
    with pytest.raises(ServiceError) as info:
        dataapi.decrypt(material(version=2), parsed, None)
    assert info.value.code == "wrong-tenant"
    # Same key bytes, header rewritten to another key: authentication fails.
    other = KeyPath("hr", "records", "filez")
    forged = blob.replace(b"hr/records/files", b"hr/records/filez")
    with pytest.raises(ServiceError) as info:
        dataapi.decrypt(material(path=other), dataapi.parse_ciphertext(forged), None)
    assert info.value.code == "decrypt-failed"


def test_contexts_never_collapse() -> None:
    a = dataapi.context_bytes({"a": "b,c"})
    b = dataapi.context_bytes({"a": "b", "c": ""})
    assert a != b
    assert dataapi.context_bytes({"x": "1", "y": "2"}) == dataapi.context_bytes(
        {"y": "2", "x": "1"}
    )
    with pytest.raises(ServiceError):
        dataapi.context_bytes({str(i): "v" for i in range(33)})


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_parser_never_raises_anything_but_a_service_error(data: bytes) -> None:
    for blob in (data, b"TKMS\x01" + data):
        try:
            parsed = dataapi.parse_ciphertext(blob)
        except ServiceError as exc:
            assert exc.code == "ciphertext-invalid"
        else:
            assert parsed.version >= 1


def test_mac_blob() -> None:
    m = Material(PATH, 3, "hmac-sm3", secrets.token_bytes(32), None)
    tag = dataapi.mac(m, b"row")
    assert dataapi.mac_version(tag) == 3
    dataapi.mac_verify(m, b"row", tag)
    with pytest.raises(ServiceError, match="does not verify"):
        dataapi.mac_verify(m, b"rov", tag)
    with pytest.raises(ServiceError):
        dataapi.mac_version(tag[:-1])
