"""The assertion addon: reused assertions carry exactly the claims of the request they go with.

The addon keys its reuse cache by the request facts the claims are made of (it never builds
the claims for a cache hit). Each case changes one fact: it must get its own assertion whose
claims are the straightforward ones for that request; the same facts again reuse it.
"""

from __future__ import annotations

import dataclasses
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
from mitmproxy import http

from crypto.sm2 import SM2PrivateKey
from gateway.addons.assertion import Assertion
from gateway.addons.state_init import StateInit
from gateway.assertion import AssertionSigner, verify_assertion
from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.devices import VerifiedDevice
from gateway.policy import Decision
from gateway.state import STATE_KEY, Runtime
from gateway.tokens import Identity

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # see test_gateway_addons.py
    from mitmproxy.test import tflow

KEY = SM2PrivateKey.generate()
CONFIG = GatewayConfig.model_validate(
    {
        "tls": {"cert": "c.pem", "key": "k.pem"},
        "device": {"ca": "ca.pem"},
        "identity": {"issuers": "i.yaml"},
        "policy": "p.yaml",
        "routes": [
            {"id": "hr", "host": "hr.city.test", "upstream": "http://127.0.0.1:1"},
            {"id": "fin", "host": "fin.city.test", "upstream": "http://127.0.0.1:2"},
        ],
        "assertion": {"key": "a.key", "issuer": "gw", "kid": "g1"},
    }
)
ALICE = Identity("alice", "idp", "t-1", 2e9, frozenset({"b", "a"}), frozenset({"r"}))
LAPTOP = VerifiedDevice("ab" * 32, "laptop-1", datetime(2030, 1, 1, tzinfo=UTC))
BASE: dict[str, Any] = {
    "route": 0,
    "rule": "hr-read",
    "method": "GET",
    "path": "/api/x",
    "identity": ALICE,
    "device": LAPTOP,
}
VARIANTS: list[dict[str, Any]] = [
    {},
    {"route": 1},
    {"rule": "hr-write"},
    {"method": "POST"},
    {"path": "/api/y"},
    {"identity": None},
    {"identity": dataclasses.replace(ALICE, subject="bob")},
    {"identity": dataclasses.replace(ALICE, issuer="other-idp")},
    {"identity": dataclasses.replace(ALICE, token_id="t-2")},
    {"identity": dataclasses.replace(ALICE, groups=frozenset({"a"}))},
    {"identity": dataclasses.replace(ALICE, roles=frozenset())},
    {"device": None},
    {"device": dataclasses.replace(LAPTOP, fingerprint="cd" * 32)},
    {"device": dataclasses.replace(LAPTOP, device_id="laptop-2")},
]


def header_for(addon: Assertion, facts: dict[str, Any]) -> str:
    flow = tflow.tflow()
    flow.request.method = facts["method"]
    StateInit().requestheaders(flow)
    state = flow.metadata[STATE_KEY]
    state.route = CONFIG.routes[facts["route"]]
    state.path = facts["path"]
    state.decision = Decision(True, facts["rule"], "allowed")
    state.identity, state.device = facts["identity"], facts["device"]
    addon.requestheaders(flow)
    request: http.Request = flow.request
    return str(request.headers["X-Tulou-Identity"])


def expected_claims(facts: dict[str, Any]) -> dict[str, Any]:
    identity: Identity | None = facts["identity"]
    device: VerifiedDevice | None = facts["device"]
    return {
        "rule": facts["rule"],
        "method": facts["method"],
        "path": facts["path"],
        "groups": sorted(identity.groups) if identity else [],
        "roles": sorted(identity.roles) if identity else [],
        "token_issuer": identity.issuer if identity else None,
        "token_id": identity.token_id if identity else None,
        "device": device.fingerprint if device else None,
        "device_id": device.device_id if device else None,
    }


@pytest.fixture
def addon() -> Assertion:
    runtime = Runtime(config=CONFIG, audit=AuditLog(None))
    runtime.extras["assertion_signer"] = AssertionSigner(KEY, "gw", "g1", 60)
    return Assertion(runtime)


def test_each_fact_gets_its_own_assertion_with_its_claims(addon: Assertion) -> None:
    seen: dict[str, int] = {}
    for index, change in enumerate(VARIANTS):
        facts = {**BASE, **change}
        token = header_for(addon, facts)
        assert header_for(addon, facts) == token  # the same facts reuse it
        audience = CONFIG.routes[facts["route"]].id
        claims = verify_assertion(token, KEY.public_key(), issuer="gw", audience=audience)
        assert claims["tulou"] == expected_claims(facts)
        identity = facts["identity"]
        assert claims.get("sub") == (identity.subject if identity else None)
        assert token not in seen, f"variant {index} reused variant {seen.get(token)}'s assertion"
        seen[token] = index


def test_claims_of_a_known_request_are_pinned(addon: Assertion) -> None:
    """The claim mapping itself, written out by hand (not derived like ``expected_claims``)."""
    token = header_for(addon, BASE)
    claims = verify_assertion(token, KEY.public_key(), issuer="gw", audience="hr")
    assert claims["sub"] == "alice"
    assert claims["tulou"] == {
        "rule": "hr-read",
        "method": "GET",
        "path": "/api/x",
        "groups": ["a", "b"],
        "roles": ["r"],
        "token_issuer": "idp",
        "token_id": "t-1",
        "device": "ab" * 32,
        "device_id": "laptop-1",
    }
    anonymous = header_for(addon, {**BASE, "route": 1, "identity": None, "device": None})
    claims = verify_assertion(anonymous, KEY.public_key(), issuer="gw", audience="fin")
    assert "sub" not in claims
    assert claims["tulou"] == {
        "rule": "hr-read",
        "method": "GET",
        "path": "/api/x",
        "groups": [],
        "roles": [],
        "token_issuer": None,
        "token_id": None,
        "device": None,
        "device_id": None,
    }
