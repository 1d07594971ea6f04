"""Device attacks: every bad client certificate is refused before the app, with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.gateway.conftest import Pki, RunningGateway, call


@pytest.mark.parametrize(
    ("device", "code"),
    [
        ("selfsigned", "untrusted"),
        ("rogue", "untrusted"),
        ("expired", "expired"),
        ("revoked", "revoked"),
    ],
)
def test_bad_certificates_are_refused(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any, device: str, code: str
) -> None:
    before = len(upstream.received)
    response, event = call(shared_gateway, pki, device=device, token=pki.token())
    assert response.status_code == 403
    assert event["rule.id"] == "builtin:device-invalid"
    assert f"({code})" in event["event.reason"]
    assert len(upstream.received) == before
    # Even a route open to anonymous users refuses a connection with a bad certificate.
    response, event = call(shared_gateway, pki, "/public/x", device=device)
    assert response.status_code == 403 and event["rule.id"] == "builtin:device-invalid"


def test_no_certificate_fails_policies_that_need_a_device(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    response, event = call(shared_gateway, pki, device=None, token=pki.token())
    assert response.status_code == 403
    assert event["rule.id"] == "builtin:default-deny"
    assert "device certificate is required" in event["event.reason"]
    response, _ = call(shared_gateway, pki, "/public/page", device=None)
    assert response.status_code == 200


def test_another_subjects_device(shared_gateway: RunningGateway, pki: Pki, upstream: Any) -> None:
    response, event = call(shared_gateway, pki, device="bob-laptop", token=pki.token(sub="alice"))
    assert response.status_code == 403
    assert "not bound to this subject" in event["event.reason"]
    assert event["tls.client.hash.sha256"] == pki.devices["bob-laptop"].fingerprint.upper()
    response, event = call(shared_gateway, pki, device="bob-laptop", token=pki.token(sub="bob"))
    assert response.status_code == 200 and event["user.name"] == "bob"


def test_posture_and_step_up_for_writes(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    response, event = call(shared_gateway, pki, method="POST", token=pki.token(), content=b"{}")
    assert response.status_code == 401 and "acr" in event["event.reason"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    token = pki.token(acr="mfa")
    response, event = call(shared_gateway, pki, method="POST", token=token, content=b"{}")
    assert response.status_code == 200 and event["rule.id"] == "hr-write"
    assert event["tulou.device.posture.fresh"] is True
    stale = pki.token(acr="mfa")
    response, event = call(
        shared_gateway, pki, method="POST", token=stale, device="stale-laptop", content=b"{}"
    )
    assert response.status_code == 403 and "stale" in event["event.reason"]
