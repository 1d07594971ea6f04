"""The SM2SM3 JWS profile: raw r||s, SM3 with Z over 1234567812345678, checked by gmssl too."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import pytest
from gmssl import sm2 as gmssl_sm2

from crypto.sm2 import SM2PrivateKey
from gateway.sm2jwt import ALGORITHM, SIGNATURE_SIZE, load_public_key
from gateway.tokens import make_codec
from tulou.errors import ConfigError


def codec() -> Any:
    """The gateway's PyJWT instance (typed Any: PyJWT's stubs do not know SM2 keys)."""
    return make_codec()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip_and_profile() -> None:
    key = SM2PrivateKey.generate()
    token = codec().encode({"sub": "alice"}, key, algorithm=ALGORITHM)
    header, payload, signature = token.split(".")
    assert jwt.get_unverified_header(token)["alg"] == "SM2SM3"
    raw = _b64decode(signature)
    assert len(raw) == SIGNATURE_SIZE
    # crypto.sm2's own raw verification with the default ID agrees...
    key.public_key().verify_raw(raw, f"{header}.{payload}".encode())
    # ...and so does an independent implementation (gmssl, pure Python, default ID).
    independent = gmssl_sm2.CryptSM2(private_key=None, public_key=key.public_key().point[1:].hex())
    assert independent.verify_with_sm3(raw.hex(), f"{header}.{payload}".encode())
    decoded = codec().decode(token, key.public_key(), algorithms=[ALGORITHM])
    assert decoded == {"sub": "alice"}


def test_gmssl_signed_token_verifies() -> None:
    # The other direction: a token signed by gmssl (independent code) verifies here.
    scalar = bytes.fromhex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
    key = SM2PrivateKey.from_private_bytes(scalar)
    signer = gmssl_sm2.CryptSM2(
        private_key=scalar.hex(), public_key=key.public_key().point[1:].hex()
    )
    header = base64.urlsafe_b64encode(b'{"alg":"SM2SM3","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"sub":"bob"}').rstrip(b"=").decode()
    signature = bytes.fromhex(signer.sign_with_sm3(f"{header}.{payload}".encode()))
    token = f"{header}.{payload}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    assert codec().decode(token, key.public_key(), algorithms=[ALGORITHM]) == {"sub": "bob"}
    independent = gmssl_sm2.CryptSM2(private_key=None, public_key=key.public_key().point[1:].hex())
    assert not independent.verify_with_sm3(signature.hex(), f"{header}.x".encode())


def test_wrong_key_and_bad_signatures_fail() -> None:
    key, other = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    token = codec().encode({"sub": "a"}, key, algorithm=ALGORITHM)
    with pytest.raises(jwt.InvalidSignatureError):
        codec().decode(token, other.public_key(), algorithms=[ALGORITHM])
    header, payload, _ = token.split(".")
    for bad in ("", "AAAA", base64.urlsafe_b64encode(b"\xff" * 64).decode().rstrip("=")):
        with pytest.raises(jwt.InvalidSignatureError):
            codec().decode(f"{header}.{payload}.{bad}", key.public_key(), algorithms=[ALGORITHM])


def test_sm2_is_not_registered_globally() -> None:
    key = SM2PrivateKey.generate()
    with pytest.raises(NotImplementedError):
        jwt.encode({"sub": "a"}, key, algorithm=ALGORITHM)  # type: ignore[arg-type]


def test_load_public_key_errors() -> None:
    with pytest.raises(ConfigError, match="not an SM2 public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "k")
