"""Blob ids: the GIL-releasing HMAC-SM3 is the same function as crypto.sm3's."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup import pack
from crypto import sm3


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=1, max_size=200), data=st.binary(max_size=5000))
def test_nogil_hmac_equals_crypto_hmac(key: bytes, data: bytes) -> None:
    assert pack.hmac_sm3_nogil(key, data) == sm3.hmac_sm3(key, data)


def test_fallback_without_stdlib_sm3_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    key, data = b"k" * 32, bytes(range(256)) * 4000
    fast = pack.hmac_sm3_nogil(key, data)
    monkeypatch.setattr(pack, "_STDLIB_SM3", False)
    assert pack.hmac_sm3_nogil(key, data) == fast == sm3.hmac_sm3(key, data)


def test_ids_from_many_threads_are_right() -> None:
    key = b"id key, 32 bytes of it.........."
    blobs = [bytes([i]) * (300_000 + i) for i in range(16)]
    results: dict[int, bytes] = {}

    def work(i: int) -> None:
        results[i] = pack.hmac_sm3_nogil(key, blobs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(blobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(blobs))] == [sm3.hmac_sm3(key, b) for b in blobs]
