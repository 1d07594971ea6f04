"""The JWT attack list against the running gateway (real TLS, real client, real upstream).

Every refused token must give 401/403, name the deciding builtin rule in the audit line, and
never reach the upstream app.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.gateway.conftest import (
    AUDIENCE,
    ISSUER_RS,
    ISSUER_SM,
    Pki,
    RunningGateway,
    call,
)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER_RS,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "jti": f"j{time.monotonic_ns()}",
        "groups": ["hr-staff"],
        **extra,
    }


def _refused(
    gateway: RunningGateway, pki: Pki, upstream: Any, token: str, code: str, *, status: int = 401
) -> dict[str, Any]:
    before = len(upstream.received)
    response, event = call(gateway, pki, token=token)
    assert response.status_code == status, response.text
    assert len(upstream.received) == before, "a refused request reached the upstream"
    assert event["event.outcome"] == "failure"
    assert code in event["event.reason"]
    assert "authentication" in event["event.category"]
    assert token not in json.dumps(event), "the token leaked into the audit log"
    return event


@pytest.mark.parametrize("kid", ["rs-1", "es-1", "ed-1"])
def test_each_algorithm_is_accepted(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any, kid: str
) -> None:
    response, event = call(shared_gateway, pki, token=pki.token(kid))
    assert response.status_code == 200
    assert event["rule.id"] == "hr-read" and event["user.name"] == "alice"
    assert event["tulou.token.issuer"] == "city-idp"


def test_sm2_token_is_accepted_once(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    token = pki.token("sm-1", iss=ISSUER_SM)
    response, event = call(shared_gateway, pki, token=token)
    assert response.status_code == 200, response.text
    assert event["tulou.token.issuer"] == "sm-idp"
    # The SM issuer is single-use: the same token again is a replay.
    event = _refused(shared_gateway, pki, upstream, token, "replayed")
    assert event["rule.id"] == "builtin:invalid-token"


def test_alg_none(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'rs-1'})}.{_b64(_claims())}."
    _refused(shared_gateway, pki, upstream, token, "wrong-alg")


def test_rs_hs_confusion(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    import hashlib
    import hmac

    public_pem = (pki.root / "rs-1.pub.pem").read_bytes()
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rs-1'})}.{_b64(_claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    _refused(shared_gateway, pki, upstream, token, "wrong-alg")


@pytest.mark.parametrize(
    "kid", ["../../../../dev/null", "rs-1' OR '1'='1", "sm-1", "", "http://127.0.0.1/k"]
)
def test_kid_injection(shared_gateway: RunningGateway, pki: Pki, upstream: Any, kid: str) -> None:
    token = pki.token("es-1", headers={"kid": kid})
    _refused(shared_gateway, pki, upstream, token, "unknown-kid")


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
def test_key_references_are_never_fetched(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any, header: str
) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    where = f"http://127.0.0.1:{upstream.server_address[1]}/attacker-keys"
    value: Any = where
    if header == "jwk":
        value = {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}
    if header == "x5c":
        value = ["MIIB"]
    token = pki.token("es-1", key=attacker, headers={header: value})
    _refused(shared_gateway, pki, upstream, token, "key-reference")
    assert not any(r["path"].startswith("/attacker-keys") for r in upstream.received)


def test_wrong_signature(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    _refused(shared_gateway, pki, upstream, pki.token("es-1", key=attacker), "bad-signature")


def test_expired(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    now = int(time.time())
    token = pki.token("es-1", iat=now - 600, exp=now - 60)
    _refused(shared_gateway, pki, upstream, token, "expired")


def test_not_yet_valid(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    now = int(time.time())
    _refused(shared_gateway, pki, upstream, pki.token("es-1", nbf=now + 600), "not-yet-valid")
    token = pki.token("es-1", iat=now + 600, exp=now + 900)
    _refused(shared_gateway, pki, upstream, token, "not-yet-valid")


def test_lifetime_above_issuer_maximum(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    _refused(shared_gateway, pki, upstream, pki.token("es-1", ttl=7200), "lifetime")


def test_wrong_audience_and_issuer(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    _refused(shared_gateway, pki, upstream, pki.token("es-1", aud="another-app"), "wrong-audience")
    _refused(
        shared_gateway, pki, upstream, pki.token("es-1", iss="https://evil.test"), "unknown-issuer"
    )
    # A trusted issuer's name with another issuer's key: the kid is not in *its* key set.
    _refused(shared_gateway, pki, upstream, pki.token("sm-1", iss=ISSUER_RS), "unknown-kid")


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "jti"])
def test_missing_claims(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any, claim: str
) -> None:
    token = pki.token("es-1", drop=(claim,))
    expected = "unknown-issuer" if claim == "iss" else "missing-claim"
    _refused(shared_gateway, pki, upstream, token, expected)


def test_malformed_authorization(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    for value in ("Basic YWxpY2U6eA==", "Bearer", "Bearer a b", "Bearer not.a.jwt"):
        before = len(upstream.received)
        response, event = call(shared_gateway, pki, headers={"Authorization": value})
        assert response.status_code == 401
        assert event["rule.id"] == "builtin:invalid-token"
        assert len(upstream.received) == before


def test_replayed_jti_from_another_device(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    token = pki.token("es-1")
    assert call(shared_gateway, pki, token=token)[0].status_code == 200
    assert call(shared_gateway, pki, token=token)[0].status_code == 200  # same device: fine
    before = len(upstream.received)
    response, event = call(shared_gateway, pki, token=token, device="bob-laptop")
    assert response.status_code == 401 and "replayed" in event["event.reason"]
    assert len(upstream.received) == before


def reloads(gateway: RunningGateway, file: str, result: str = "ok") -> int:
    prefix = f'tulou_gateway_reloads_total{{file="{file}",result="{result}"}} '
    for line in gateway.admin_get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return int(float(line[len(prefix) :]))
    return 0


def _revoke(gateway: RunningGateway, **lists: list[str]) -> None:
    before = reloads(gateway, "revocations")
    # Written as an operator's tool should (a new file renamed over the old): write_text
    # truncates first, and a reload between the truncation and the write read an empty list.
    staged = gateway.directory / "revocations.yaml.new"
    staged.write_text(yaml.safe_dump(lists))
    staged.replace(gateway.directory / "revocations.yaml")
    deadline = time.monotonic() + 10
    while reloads(gateway, "revocations") <= before:
        assert time.monotonic() < deadline, "revocations were not reloaded"
        time.sleep(0.05)


def test_revoked_token_and_subject_including_live_connections(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    token = pki.token("es-1")
    other = pki.token("es-1")
    with pki.client("alice-laptop", http2=True) as live:
        response = live.get(
            f"{gateway.url}/api/people",
            headers={"Host": "hr.city.test", "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200 and response.http_version == "HTTP/2"
        _revoke(
            gateway,
            tokens=[json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]],
        )
        metrics = gateway.admin_get("/metrics").text
        assert 'tulou_gateway_connections_closed_total{reason="revoked"} 1' in metrics
        # The live HTTP/2 connection was cut: the next request on it fails or, if the client
        # noticed and reconnected, is refused.
        try:
            again = live.get(
                f"{gateway.url}/api/people",
                headers={"Host": "hr.city.test", "Authorization": f"Bearer {token}"},
            )
        except httpx.RemoteProtocolError:
            pass
        else:
            assert again.status_code == 403
    response, event = call(gateway, pki, token=token)
    assert response.status_code == 403
    assert event["rule.id"] == "builtin:revoked" and event["event.reason"] == "token revoked"
    assert call(gateway, pki, token=other)[0].status_code == 200
    _revoke(gateway, subjects=["alice"])
    response, event = call(gateway, pki, token=pki.token("es-1"))
    assert event["event.reason"] == "subject revoked"
    assert (
        call(gateway, pki, token=pki.token("es-1", sub="bob"), device="bob-laptop")[0].status_code
        == 200
    )


def test_pem_of_the_public_key_is_not_a_secret(pki: Pki) -> None:
    # Sanity for the confusion test: the HMAC key used above is exactly the configured PEM.
    key = serialization.load_pem_public_key((pki.root / "rs-1.pub.pem").read_bytes())
    assert key.key_size == 2048  # type: ignore[union-attr]
