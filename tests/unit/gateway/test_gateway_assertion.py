"""The identity assertion signer: claims, verification, and reuse of signed assertions."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from crypto.sm2 import SM2PrivateKey
from gateway.assertion import AssertionSigner, verify_assertion

T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


def extra(path: str = "/api/x", **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "rule": "hr-read",
        "method": "GET",
        "path": path,
        "groups": ["hr-staff"],
        "roles": [],
        "token_issuer": "idp",
        "token_id": "t-1",
        "device": "ab" * 32,
        "device_id": "laptop-1",
    }
    claims.update(changes)
    return claims


def decode(token: str) -> dict[str, Any]:
    # Claims only: the tests sign at a fixed clock in 2027; signatures are checked above.
    claims: dict[str, Any] = jwt.decode(
        token, options={"verify_signature": False}, algorithms=["SM2SM3"]
    )
    return claims


def test_sign_is_fresh_every_time_and_verifies(key: SM2PrivateKey) -> None:
    signer = AssertionSigner(key, "tulou-gateway", "gw-1", 60)
    first = signer.sign(audience="hr", subject="alice", extra=extra())
    second = signer.sign(audience="hr", subject="alice", extra=extra())
    assert first != second
    claims = verify_assertion(first, key.public_key(), issuer="tulou-gateway", audience="hr")
    assert claims["sub"] == "alice" and claims["tulou"] == extra()
    assert claims["exp"] - claims["iat"] == 60
    assert jwt.get_unverified_header(first)["kid"] == "gw-1"


def test_issue_reuses_for_identical_claims_within_the_window(key: SM2PrivateKey) -> None:
    signer = AssertionSigner(key, "tulou-gateway", "gw-1", 60)
    assert signer.reuse == 30
    first = signer.issue(audience="hr", subject="alice", extra=extra(), now=T0)
    again = signer.issue(audience="hr", subject="alice", extra=extra(), now=T0 + 29.9)
    assert again == first
    claims = decode(first)
    assert claims["iat"] == int(T0) and claims["exp"] == int(T0) + 60
    # At the edge of the window a new assertion (new jti, new iat) is signed.
    later = signer.issue(audience="hr", subject="alice", extra=extra(), now=T0 + 30)
    assert later != first
    assert decode(later)["jti"] != claims["jti"]
    assert decode(later)["iat"] == int(T0 + 30)


def test_every_reused_assertion_keeps_at_least_ttl_minus_reuse_to_live(
    key: SM2PrivateKey,
) -> None:
    signer = AssertionSigner(key, "gw", "k", 20, reuse=15)
    for step in range(0, 400):
        moment = T0 + step * 0.25
        token = signer.issue(audience="hr", subject=None, extra=extra(), now=moment)
        assert decode(token)["exp"] - moment >= 20 - 15 - 1e-9


@pytest.mark.parametrize(
    ("audience", "subject", "changes"),
    [
        ("other-route", "alice", {}),
        ("hr", "bob", {}),
        ("hr", None, {}),
        ("hr", "alice", {"path": "/api/y"}),
        ("hr", "alice", {"method": "POST"}),
        ("hr", "alice", {"rule": "hr-write"}),
        ("hr", "alice", {"token_id": "t-2"}),
        ("hr", "alice", {"device": "cd" * 32}),
        ("hr", "alice", {"groups": ["hr-staff", "admins"]}),
        ("hr", "alice", {"roles": ["hr-staff"]}),
        ("hr", "alice", {"device_id": 1}),
        ("hr", "alice", {"device_id": True}),
    ],
)
def test_any_other_claim_gets_its_own_assertion(
    key: SM2PrivateKey, audience: str, subject: str | None, changes: dict[str, Any]
) -> None:
    signer = AssertionSigner(key, "gw", "k", 60)
    # device_id 1.0 here, 1 and True below: equal (and equal hashes) in Python, not in JSON.
    base = signer.issue(audience="hr", subject="alice", extra=extra(device_id=1.0), now=T0)
    if "device_id" not in changes:
        changes = {**changes, "device_id": 1.0}
    other = signer.issue(audience=audience, subject=subject, extra=extra(**changes), now=T0)
    assert other != base
    claims = decode(other)
    assert claims["aud"] == audience and claims.get("sub") == subject
    assert claims["tulou"] == extra(**changes)
    assert type(claims["tulou"]["device_id"]) is type(extra(**changes)["device_id"])


def test_forget_and_the_size_bound(key: SM2PrivateKey) -> None:
    signer = AssertionSigner(key, "gw", "k", 60, cache_size=3)
    first = signer.issue(audience="hr", subject="alice", extra=extra(), now=T0)
    signer.forget()
    assert len(signer) == 0
    assert signer.issue(audience="hr", subject="alice", extra=extra(), now=T0) != first
    for index in range(10):
        signer.issue(audience="hr", subject="alice", extra=extra(f"/p/{index}"), now=T0)
        assert len(signer) <= 3


def test_a_clock_going_backwards_does_not_reuse(key: SM2PrivateKey) -> None:
    signer = AssertionSigner(key, "gw", "k", 60)
    first = signer.issue(audience="hr", subject="alice", extra=extra(), now=T0)
    assert signer.issue(audience="hr", subject="alice", extra=extra(), now=T0 - 5) != first
