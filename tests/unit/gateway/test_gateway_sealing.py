"""Request sealing over the crypto envelope: round trip, binding, trust, tampering, replay."""

from __future__ import annotations

import pytest

from crypto.sm2 import SM2PrivateKey
from gateway.sealing import Sealer
from tulou.errors import ReplayError, VerificationError


@pytest.fixture
def pair() -> tuple[Sealer, Sealer]:
    a, b = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    return (
        Sealer("a", a, {"b": b.public_key()}, 300),
        Sealer("b", b, {"a": a.public_key()}, 300),
    )


def test_round_trip_and_replay(pair: tuple[Sealer, Sealer]) -> None:
    a, b = pair
    sealed = a.seal({"m": "POST", "p": "/x", "ct": "text/plain"}, b"hello", "b")
    opened = b.open(sealed)
    assert (opened.body, opened.sender, opened.content_type) == (b"hello", "a", "text/plain")
    assert opened.binding["p"] == "/x"
    with pytest.raises(ReplayError):
        b.open(sealed)


def test_tampering_and_strangers(pair: tuple[Sealer, Sealer]) -> None:
    a, b = pair
    sealed = bytearray(a.seal({"m": "GET", "p": "/", "ct": ""}, b"", "b"))
    sealed[-1] ^= 1
    with pytest.raises(VerificationError):
        b.open(bytes(sealed))
    stranger = Sealer("a", SM2PrivateKey.generate(), {"b": b.key.public_key()}, 300)
    with pytest.raises(VerificationError):
        b.open(stranger.seal({"m": "GET", "p": "/", "ct": ""}, b"x", "b"))
    with pytest.raises(VerificationError):
        b.open(b"not an envelope")
