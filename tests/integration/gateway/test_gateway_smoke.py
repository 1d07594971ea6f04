"""The allow path end to end: mTLS + JWT + policy + assertion + audit, through the real proxy."""

from __future__ import annotations

from typing import Any

from tests.integration.gateway.conftest import Pki, RunningGateway


def test_allowed_request_reaches_the_app(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    with pki.client("alice-laptop") as client:
        response = client.get(
            f"{shared_gateway.url}/api/people?x=1",
            headers={"Host": "hr.city.test", "Authorization": f"Bearer {pki.token()}"},
        )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["path"] == "/api/people?x=1"
    assert "authorization" not in seen["headers"]
    assert "x-tulou-identity" in seen["headers"]
