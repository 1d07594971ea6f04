"""SM3, HMAC-SM3, the SM2 KDF and PBKDF2-HMAC-SM3 against published vectors and independent code."""

from __future__ import annotations

import hashlib

import pytest
from gmssl import sm3 as gm_sm3  # test-only independent (pure Python) implementation
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.sm3 import HMACSM3, SM3Hasher, hmac_sm3, kdf, pbkdf2_sm3, sm3, verify_hmac_sm3
from tulou.errors import UsageError, VerificationError

# GB/T 32905-2016 Annex A, example 1 (A.1): the 24-bit message "abc".
ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
# GB/T 32905-2016 Annex A, example 2 (A.2): the 512-bit message "abcd" repeated 16 times.
ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_gbt_32905_annex_a_vectors() -> None:
    assert sm3(b"abc").hex() == ABC
    assert sm3(b"abcd" * 16).hex() == ABCD16


def test_streaming_hasher_matches_vector_in_pieces() -> None:
    h = SM3Hasher(b"ab")
    h.update(b"cd" * 1)
    fork = h.copy()
    for _ in range(15):
        h.update(b"abcd")
    assert h.digest().hex() == ABCD16
    fork.update(b"abcd" * 15)
    assert fork.digest().hex() == ABCD16


@settings(deadline=None)  # the machine is shared: no per-example timing
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=300))
def test_streaming_equals_one_shot_and_gmssl(data: bytes, cut: int) -> None:
    h = SM3Hasher()
    h.update(data[:cut])
    h.update(data[cut:])
    digest = h.digest()
    assert digest == sm3(data)
    assert digest.hex() == gm_sm3.sm3_hash(list(data))


def _hmac_reference(key: bytes, data: bytes) -> bytes:
    """RFC 2104 written out with gmssl's SM3 (64-byte block)."""
    if len(key) > 64:
        key = bytes.fromhex(gm_sm3.sm3_hash(list(key)))
    key = key.ljust(64, b"\0")
    inner = bytes.fromhex(gm_sm3.sm3_hash(list(bytes(b ^ 0x36 for b in key) + data)))
    return bytes.fromhex(gm_sm3.sm3_hash(list(bytes(b ^ 0x5C for b in key) + inner)))


@settings(deadline=None)  # the machine is shared: no per-example timing
@given(st.binary(min_size=1, max_size=100), st.binary(max_size=200))
def test_hmac_sm3_matches_rfc2104_reference(key: bytes, data: bytes) -> None:
    tag = hmac_sm3(key, data)
    assert tag == _hmac_reference(key, data)
    incremental = HMACSM3(key)
    incremental.update(data)
    assert incremental.digest() == tag
    verify_hmac_sm3(key, data, tag)


def test_hmac_sm3_rejects_wrong_tag_and_empty_key() -> None:
    tag = hmac_sm3(b"k" * 16, b"data")
    with pytest.raises(VerificationError):
        verify_hmac_sm3(b"k" * 16, b"datA", tag)
    with pytest.raises(UsageError):
        hmac_sm3(b"", b"data")
    assert "k" * 16 not in repr(HMACSM3(b"k" * 16))


@settings(deadline=None)  # the machine is shared: no per-example timing
@given(st.binary(min_size=1, max_size=80), st.integers(min_value=1, max_value=200))
def test_kdf_matches_gmssl(z: bytes, length: int) -> None:
    assert kdf(z, length).hex() == gm_sm3.sm3_kdf(z.hex().encode(), length)


def test_kdf_is_counter_mode_sm3() -> None:
    z = b"shared secret"
    expected = sm3(z + b"\0\0\0\1") + sm3(z + b"\0\0\0\2")
    assert kdf(z, 40) == expected[:40]
    assert kdf(z, 0) == b""


def test_pbkdf2_sm3_matches_system_openssl() -> None:
    """cryptography's bundled OpenSSL vs the system OpenSSL behind hashlib."""
    salt = bytes(range(16))
    ours = pbkdf2_sm3(b"passphrase", salt, length=32, iterations=1000)
    try:
        theirs = hashlib.pbkdf2_hmac("sm3", b"passphrase", salt, 1000, 32)
    except ValueError:
        pytest.skip("hashlib's OpenSSL lacks SM3")
    assert ours == theirs


def test_pbkdf2_sm3_rejects_weak_parameters() -> None:
    with pytest.raises(UsageError):
        pbkdf2_sm3(b"pw", b"short", iterations=10)
    with pytest.raises(UsageError):
        pbkdf2_sm3(b"", bytes(16), iterations=10)
    with pytest.raises(UsageError):
        pbkdf2_sm3(b"pw", bytes(16), iterations=0)
