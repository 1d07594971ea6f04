"""TokenVerifier in-process: the checks and their stable codes (the proxy suite covers the wire)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.issuers import load_issuers
from gateway.revocation import Revocations
from gateway.tokens import TokenError, TokenVerifier
from tulou.errors import ConfigError

ISS = "https://idp.test"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TokenVerifier, dict[str, Any], Path]:
    keys: dict[str, Any] = {
        "rs": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "es": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }
    entries = []
    for kid, key in keys.items():
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (tmp_path / f"{kid}.pem").write_bytes(pem)
        alg = {"rs": "RS256", "es": "ES256", "ed": "EdDSA"}[kid]
        entries.append({"kid": kid, "alg": alg, "public_key": f"{kid}.pem"})
    (tmp_path / "issuers.yaml").write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {
                        "name": "idp",
                        "issuer": ISS,
                        "audience": "gw",
                        "max_lifetime": 600,
                        "keys": entries,
                    }
                ]
            }
        )
    )
    return TokenVerifier(load_issuers(tmp_path / "issuers.yaml"), leeway=5), keys, tmp_path


def mint(keys: dict[str, Any], kid: str = "es", alg: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISS,
        "aud": "gw",
        "sub": "alice",
        "iat": now,
        "exp": now + 60,
        "jti": f"j{time.monotonic_ns()}",
        "roles": "a b",
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    algs = {"rs": "RS256", "es": "ES256", "ed": "EdDSA"}
    return jwt.encode(payload, keys[kid], algorithm=alg or algs[kid], headers={"kid": kid})


@pytest.mark.parametrize("kid", ["rs", "es", "ed"])
def test_accepts(setup: Any, kid: str) -> None:
    verifier, keys, _ = setup
    identity = verifier.verify(mint(keys, kid), binding="d")
    assert identity.subject == "alice" and identity.issuer == "idp"
    assert identity.roles == frozenset({"a", "b"})


#: Claims whose value is an offset from the moment the test runs (not from collection: a slow
#: CI run reached this test more than 600 s after import, and the "future" nbf had passed).
RELATIVE = ("exp", "nbf")


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": -60}, "expired"),
        ({"nbf": 600}, "not-yet-valid"),
        ({"aud": "other"}, "wrong-audience"),
        ({"iss": "https://other"}, "unknown-issuer"),
        ({"sub": None}, "missing-claim"),
        ({"jti": None}, "missing-claim"),
        ({"exp": 3600}, "lifetime"),
        ({"sub": ""}, "missing-claim"),
    ],
)
def test_refuses(setup: Any, claims: dict[str, Any], code: str) -> None:
    verifier, keys, _ = setup
    now = int(time.time())
    claims = {k: now + v if k in RELATIVE else v for k, v in claims.items()}
    with pytest.raises(TokenError) as info:
        verifier.verify(mint(keys, **claims), binding="d")
    assert info.value.code == code


def test_alg_pinning_and_headers(setup: Any) -> None:
    verifier, _, _ = setup
    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"iss": ISS}, other, algorithm="ES256", headers={"kid": "rs"})
    with pytest.raises(TokenError) as info:
        verifier.verify(token, binding="d")
    assert info.value.code == "wrong-alg"
    token = jwt.encode({"iss": ISS}, other, algorithm="ES256", headers={"kid": "es", "jku": "x"})
    with pytest.raises(TokenError) as info:
        verifier.verify(token, binding="d")
    assert info.value.code == "key-reference"
    with pytest.raises(TokenError) as info:
        verifier.verify("a.b.c", binding="d")
    assert info.value.code == "malformed"


def test_revocation_and_replay(setup: Any) -> None:
    verifier, keys, _ = setup
    token = mint(keys, sub="mallory")
    verifier.revocations = Revocations(subjects=frozenset({"mallory"}))
    with pytest.raises(TokenError) as info:
        verifier.verify(token, binding="d")
    assert info.value.code == "revoked"
    token = mint(keys)
    verifier.verify(token, binding="d1")
    with pytest.raises(TokenError) as info:
        verifier.verify(token, binding="d2")
    assert info.value.code == "replayed"


def test_issuer_file_errors(setup: Any) -> None:
    _, _, path = setup
    bad = path / "bad.yaml"
    contents: list[dict[str, Any]] = [
        {
            "issuers": [
                {
                    "name": "x",
                    "issuer": "y",
                    "audience": "a",
                    "keys": [{"kid": "k", "alg": "HS256", "public_key": "es.pem"}],
                }
            ]
        },
        {
            "issuers": [
                {
                    "name": "x",
                    "issuer": "y",
                    "audience": "a",
                    "keys": [{"kid": "k", "alg": "RS256", "public_key": "es.pem"}],
                }
            ]
        },
        {
            "issuers": [
                {
                    "name": "x",
                    "issuer": "y",
                    "audience": [],
                    "keys": [{"kid": "k", "alg": "ES256", "public_key": "es.pem"}],
                }
            ]
        },
        {"issuers": [{"name": "x", "issuer": "y", "audience": "a", "keys": []}]},
        {"issuers": [{"name": "x", "issuer": "y", "audience": "a", "extra": 1}]},
        {"nope": []},
    ]
    for content in contents:
        bad.write_text(yaml.safe_dump(content))
        with pytest.raises(ConfigError):
            load_issuers(bad)


def test_cached_tokens_are_still_revoked_and_expire(setup: Any) -> None:
    verifier, keys, path = setup
    token = mint(keys)
    verifier.verify(token, binding="d")  # now cached
    verifier.revocations = Revocations(
        tokens=frozenset({verifier.verify(token, binding="d").token_id})
    )
    with pytest.raises(TokenError) as info:
        verifier.verify(token, binding="d")
    assert info.value.code == "revoked"
    strict = TokenVerifier(load_issuers(path / "issuers.yaml"), leeway=0)
    short = mint(keys, exp=int(time.time()) + 1)
    strict.verify(short, binding="d")
    time.sleep(1.2)
    with pytest.raises(TokenError) as info:
        strict.verify(short, binding="d")
    assert info.value.code == "expired"
