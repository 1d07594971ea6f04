"""The identity-assertion contract: the gateway's real signer against tulou's reader."""

from __future__ import annotations

import base64
import json
import time

import pytest

from crypto.sm2 import SM2PrivateKey
from gateway.assertion import AssertionSigner
from tulou.contracts import assertion
from tulou.errors import TulouError, VerificationError

KEY = SM2PrivateKey.generate()
OTHER = SM2PrivateKey.generate()


def _checker(key: SM2PrivateKey) -> assertion.Verifier:
    def check(message: bytes, signature: bytes) -> bool:
        try:
            key.public_key().verify_raw(signature, message)
        except TulouError:
            return False
        return True

    return check


def _token(**extra: object) -> str:
    signer = AssertionSigner(KEY, "tulou-gateway", "gw1", 60)
    claims = {
        "rule": "r1",
        "groups": ["hr"],
        "roles": ["clerk"],
        "method": "POST",
        "path": "/v1/x",
        **extra,
    }
    return signer.sign(audience="crypto", subject="alice", extra=claims)


def test_reader_accepts_what_the_gateway_signs() -> None:
    got = assertion.verify(
        _token(), _checker(KEY), issuer="tulou-gateway", audience="crypto", now=time.time()
    )
    assert (got.subject, got.groups, got.roles, got.method, got.path) == (
        "alice",
        frozenset({"hr"}),
        frozenset({"clerk"}),
        "POST",
        "/v1/x",
    )
    assert got.expires - got.issued_at == 60


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"issuer": "someone-else"}, "wrong issuer"),
        ({"audience": "hr"}, "wrong audience"),
        ({"now": time.time() + 3600}, "expired"),
        ({"now": time.time() - 3600}, "future"),
    ],
)
def test_reader_refuses_wrong_claims(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "issuer": "tulou-gateway",
        "audience": "crypto",
        "now": time.time(),
        **kwargs,
    }
    with pytest.raises(VerificationError, match=message):
        assertion.verify(_token(), _checker(KEY), **args)  # type: ignore[arg-type]


def test_reader_refuses_another_key_and_tampering() -> None:
    token = _token()
    with pytest.raises(VerificationError, match="bad signature"):
        assertion.verify(
            token, _checker(OTHER), issuer="tulou-gateway", audience="crypto", now=time.time()
        )
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(VerificationError, match="bad signature"):
        assertion.verify(
            f"{head}.{forged}.{sig}",
            _checker(KEY),
            issuer="tulou-gateway",
            audience="crypto",
            now=time.time(),
        )
    for bad in ("", "a.b", "a.b.c.d", f"{head}.{body}.AAAA", "x" * 20000):
        with pytest.raises(VerificationError):
            assertion.verify(
                bad, _checker(KEY), issuer="tulou-gateway", audience="crypto", now=time.time()
            )


def test_reader_refuses_other_algorithms_and_key_headers() -> None:
    def encode(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = encode({"iss": "tulou-gateway", "aud": "crypto", "iat": 1, "exp": 2**40, "jti": "j"})
    sig = base64.urlsafe_b64encode(b"\1" * 64).rstrip(b"=").decode()
    for header, message in (
        ({"alg": "none"}, "alg"),
        ({"alg": "SM2SM3", "jku": "http://x"}, "key-reference"),
    ):
        with pytest.raises(VerificationError, match=message):
            assertion.verify(
                f"{encode(header)}.{claims}.{sig}",
                lambda m, s: True,
                issuer="tulou-gateway",
                audience="crypto",
                now=time.time(),
            )
