"""SM4: GB/T 32907 vectors, gmssl cross-checks, sealed-message round trips and tamper rejection."""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm4 as gm_sm4  # test-only independent (pure Python) implementation
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import sm4
from tulou.errors import InputError, UsageError, VerificationError

# GB/T 32907-2016 Annex A, example 1: key = plaintext = 0123456789abcdeffedcba9876543210.
KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
ONCE = "681edf34d206965e86b3e94f536e4246"
# GB/T 32907-2016 Annex A, example 2: the same block encrypted 1,000,000 times.
MILLION = "595298c7c6fd271f0402f804c33d3f66"


def test_gbt_32907_single_block() -> None:
    # CBC with a zero IV on one block is the bare block cipher; the padding block is dropped.
    assert sm4.cbc_encrypt(KEY, KEY, iv=bytes(16))[16:32].hex() == ONCE


def test_gbt_32907_one_million_iterations() -> None:
    # CBC over zero blocks with IV = x0 computes x_{i+1} = E(x_i): the i-th ciphertext block is
    # the i-th iterate, so the last of 1,000,000 blocks is the standard's result, in one call.
    enc = Cipher(algorithms.SM4(KEY), modes.CBC(KEY)).encryptor()
    out = enc.update(bytes(16 * 1_000_000)) + enc.finalize()
    assert out[-16:].hex() == MILLION


@settings(deadline=None)  # the machine is shared: no per-example timing
@given(st.binary(max_size=200))
def test_cbc_matches_gmssl(data: bytes) -> None:
    iv = bytes(range(16))
    ours = sm4.cbc_encrypt(KEY, data, iv=iv)
    ref = gm_sm4.CryptSM4()
    ref.set_key(KEY, gm_sm4.SM4_ENCRYPT)
    assert ours[16:] == ref.crypt_cbc(iv, data)
    assert sm4.cbc_decrypt(KEY, ours) == data


@settings(deadline=None)  # the machine is shared: no per-example timing
@given(st.binary(max_size=200))
def test_ctr_round_trip_and_fresh_counter(data: bytes) -> None:
    a, b = sm4.ctr_encrypt(KEY, data), sm4.ctr_encrypt(KEY, data)
    assert sm4.ctr_decrypt(KEY, a) == sm4.ctr_decrypt(KEY, b) == data
    assert a[:16] != b[:16]


def test_cbc_wrong_key_or_bad_length_is_a_clear_error() -> None:
    ct = sm4.cbc_encrypt(KEY, b"secret data")
    # CBC is unauthenticated: a wrong key fails the padding check, or (rarely) yields garbage.
    try:
        out = sm4.cbc_decrypt(bytes(16), ct)
    except VerificationError:
        pass
    else:
        assert out != b"secret data"
    with pytest.raises(InputError):
        sm4.cbc_decrypt(KEY, ct[:-1])
    with pytest.raises(UsageError):
        sm4.cbc_encrypt(b"short", b"x")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=5000), st.binary(max_size=40), st.sampled_from([10, 11, 18]))
def test_seal_open_round_trip(data: bytes, aad: bytes, bits: int) -> None:
    sealer = sm4.Sealer(KEY, aad=aad, chunk_bits=bits)
    sealed = sealer.update(data) + sealer.finalize()
    assert sm4.open(KEY, sealed, aad=aad) == data
    assert len(sealed) == sm4.HEADER_SIZE + len(data) + 16 * (
        max(0, len(data) - 1) // (1 << bits) + 1
    )


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=4000), st.lists(st.integers(min_value=0, max_value=700), max_size=8))
def test_streaming_in_arbitrary_pieces(data: bytes, cuts: list[int]) -> None:
    sealer = sm4.Sealer(KEY, chunk_bits=10)
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(sealer.update(data[pos : pos + cut]))
        pos += cut
    pieces.append(sealer.update(data[pos:]))
    sealed = b"".join(pieces) + sealer.finalize()
    opener, out = sm4.Opener(KEY), []
    for i in range(0, len(sealed), 333):
        out.append(opener.update(sealed[i : i + 333]))
    assert b"".join(out) + opener.finalize() == data


def test_seal_stream_files() -> None:
    data = bytes(range(256)) * 5000
    src, dst = io.BytesIO(data), io.BytesIO()
    assert sm4.seal_stream(KEY, src, dst, read_size=4096) == len(data)
    back = io.BytesIO()
    assert sm4.open_stream(KEY, io.BytesIO(dst.getvalue()), back) == len(data)
    assert back.getvalue() == data


def test_every_bit_flip_is_rejected() -> None:
    sealed = sm4.seal(KEY, b"attack at dawn, gate 3", aad=b"hdr")
    for i in range(len(sealed) * 8):
        tampered = bytearray(sealed)
        tampered[i // 8] ^= 1 << (i % 8)
        with pytest.raises((VerificationError, InputError)):
            sm4.open(KEY, bytes(tampered), aad=b"hdr")


def test_truncation_reordering_and_context_are_detected() -> None:
    data = bytes(5000)
    sealer = sm4.Sealer(KEY, chunk_bits=10)
    sealed = sealer.update(data) + sealer.finalize()
    size = 1024 + 16
    body = sealed[sm4.HEADER_SIZE :]
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    header = sealed[: sm4.HEADER_SIZE]
    with pytest.raises(VerificationError):  # drop the final chunk
        sm4.open(KEY, header + b"".join(chunks[:-1]))
    with pytest.raises(VerificationError):  # swap two chunks
        sm4.open(KEY, header + chunks[1] + chunks[0] + b"".join(chunks[2:]))
    with pytest.raises(VerificationError):  # extra bytes after the end
        sm4.open(KEY, sealed + bytes(16))
    with pytest.raises(VerificationError):
        sm4.open(KEY, sealed, aad=b"other context")
    with pytest.raises(VerificationError):
        sm4.open(sm4.generate_key(), sealed)
    with pytest.raises((InputError, VerificationError)):
        sm4.open(KEY, sealed[:10])


def test_no_nonce_or_key_reuse_between_messages() -> None:
    a, b = sm4.seal(KEY, b"same"), sm4.seal(KEY, b"same")
    assert a[2:18] != b[2:18]  # fresh salt, so a fresh one-time key
    assert a[18:] != b[18:]


def test_repr_hides_the_key() -> None:
    key = bytes.fromhex("deadbeef" * 4)
    for obj in (sm4.Sealer(key), sm4.Opener(key)):
        assert "deadbeef" not in repr(obj).lower()
        assert repr(key) not in repr(obj)


def test_bad_parameters() -> None:
    with pytest.raises(UsageError):
        sm4.seal(b"\0" * 15, b"x")
    with pytest.raises(UsageError):
        sm4.Sealer(KEY, chunk_bits=30)
    sealer = sm4.Sealer(KEY)
    sealer.finalize()
    with pytest.raises(UsageError):
        sealer.update(b"more")
    with pytest.raises(InputError):
        sm4.open(KEY, b"\x07" + bytes(40))
