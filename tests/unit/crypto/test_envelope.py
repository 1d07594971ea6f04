"""The envelope: round trips, streaming, every-bit-flip rejection, trust and replay checks."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import envelope
from crypto.keystore import MemoryKeyStore
from crypto.sm2 import SM2PrivateKey
from tulou.errors import InputError, ReplayError, VerificationError

SENDER = SM2PrivateKey.generate()
ALICE = SM2PrivateKey.generate()
BOB = SM2PrivateKey.generate()
TRUSTED = {"gateway@v1": SENDER.public_key()}
TO_BOTH = [("alice@v1", ALICE.public_key()), ("bob@v1", BOB.public_key())]


def _seal(payload: bytes) -> bytes:
    return envelope.seal(
        payload,
        sender=SENDER,
        sender_id="gateway@v1",
        recipients=TO_BOTH,
        content_type="application/json",
    )


def _open(
    data: bytes,
    who: str = "alice@v1",
    key: SM2PrivateKey = ALICE,
    replay: envelope.ReplayGuard | None = None,
) -> envelope.Opened:
    return envelope.open(
        data, recipient_id=who, decrypter=key, trusted_senders=TRUSTED, replay=replay
    )


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=3000))
def test_round_trip_for_every_recipient(payload: bytes) -> None:
    sealed = _seal(payload)
    for who, key in (("alice@v1", ALICE), ("bob@v1", BOB)):
        opened = _open(sealed, who, key)
        assert opened.payload == payload
        assert (opened.sender_id, opened.content_type) == ("gateway@v1", "application/json")


def test_header_layout_matches_the_documented_format() -> None:
    sealed = _seal(b"{}")
    magic, version, length, _mid, created = struct.unpack_from(">4sBI16sQ", sealed)
    assert (magic, version) == (b"TLEV", 1)
    header = envelope.parse_header(sealed)
    assert len(header.raw) == length
    assert header.created_ms == created
    assert [r.key_id for r in header.recipients] == ["alice@v1", "bob@v1"]
    assert header.sender_fingerprint.hex() == SENDER.public_key().fingerprint()
    assert sealed[length] == 1  # the body starts with the sealed-stream version byte


def test_every_bit_flip_is_rejected() -> None:
    # One recipient keeps the run short; every bit of header, body and signature is flipped.
    sealed = envelope.seal(
        b"transfer 100 to account 42", sender=SENDER, sender_id="gateway@v1", recipients=TO_BOTH[:1]
    )
    for i in range(len(sealed) * 8):
        flipped = bytearray(sealed)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises((VerificationError, InputError)):
            _open(bytes(flipped))


def test_untrusted_sender_wrong_recipient_and_truncation() -> None:
    sealed = _seal(b"x")
    with pytest.raises(VerificationError, match="not trusted"):
        envelope.open(
            sealed, recipient_id="alice@v1", decrypter=ALICE, trusted_senders={}, replay=None
        )
    other = {"gateway@v1": SM2PrivateKey.generate().public_key()}
    with pytest.raises(VerificationError):
        envelope.open(
            sealed, recipient_id="alice@v1", decrypter=ALICE, trusted_senders=other, replay=None
        )
    with pytest.raises(VerificationError, match="not addressed"):
        _open(sealed, "carol@v1", ALICE)
    with pytest.raises(VerificationError):
        _open(sealed, "alice@v1", BOB)  # Bob's key cannot unwrap Alice's entry
    for cut in (1, 10, 64, 65, 100):
        with pytest.raises((VerificationError, InputError)):
            _open(sealed[:-cut])


def test_replay_and_stale_messages_are_refused() -> None:
    guard = envelope.MemoryReplayGuard(window=60)
    sealed = _seal(b"once")
    assert _open(sealed, replay=guard).payload == b"once"
    with pytest.raises(ReplayError):
        _open(sealed, replay=guard)
    with pytest.raises(ReplayError):
        guard.check(b"\0" * 16, 0)  # 1970


def test_streaming_large_payload_with_key_store_keys() -> None:
    store = MemoryKeyStore()
    store.create("gateway")
    store.create("backup")
    payload = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4: several chunks
    src, dst = io.BytesIO(payload), io.BytesIO()
    envelope.seal_stream(
        src,
        dst,
        sender=store.signer("gateway"),
        sender_id="gateway@v1",
        recipients=[("backup@v1", store.public_key("backup"))],
        read_size=100_000,
    )
    out = io.BytesIO()
    opened = envelope.open_stream(
        io.BytesIO(dst.getvalue()),
        out,
        recipient_id="backup@v1",
        decrypter=store.decrypter("backup"),
        trusted_senders={"gateway@v1": store.public_key("gateway")},
        replay=None,
        read_size=77_777,
    )
    assert out.getvalue() == payload
    assert opened.sender_id == "gateway@v1"
    assert [e["event.action"] for e in store.events][-2:] == ["key-sign", "key-decrypt"]


@settings(deadline=None)
@given(st.binary(max_size=400))
def test_parsers_fail_with_typed_errors_only(junk: bytes) -> None:
    """Fuzz: arbitrary bytes never crash the parsers with an untyped exception."""
    for data in (junk, b"TLEV\x01" + junk):
        with pytest.raises((InputError, VerificationError)):
            _open(data)
