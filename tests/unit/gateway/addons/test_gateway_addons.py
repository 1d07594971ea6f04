"""Addons in isolation with mitmproxy's own test helpers (taddons, tflow).

The proxy suites in tests/integration/gateway run them together over real TLS; these pin the
contracts one addon at a time: option validation with rollback, routing, sanitising.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions, http

from gateway.addons.policy_enforcer import PolicyEnforcer
from gateway.addons.router import Router
from gateway.addons.sanitizer import Sanitizer
from gateway.addons.state_init import StateInit
from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.state import STATE_KEY, Runtime

with warnings.catch_warnings():
    # mitmproxy.test imports every bundled addon; proxyauth pulls in ldap3, which touches a
    # deprecated pyasn1 name at import time. Not our code, and not under test here.
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy.test import taddons, tflow


def runtime() -> Runtime:
    config = GatewayConfig.model_validate(
        {
            "tls": {"cert": "c.pem", "key": "k.pem"},
            "device": {"ca": "ca.pem"},
            "identity": {"issuers": "i.yaml"},
            "policy": "p.yaml",
            "routes": [
                {"id": "hr", "host": "hr.city.test", "upstream": "http://127.0.0.1:1"},
                {
                    "id": "hr-api",
                    "host": "hr.city.test",
                    "prefix": "/api",
                    "upstream": "http://127.0.0.1:2",
                },
                {"id": "any", "host": "*.apps.test", "upstream": "http://127.0.0.1:3"},
            ],
        }
    )
    return Runtime(config=config, audit=AuditLog(None))


def test_policy_reload_rolls_back_and_keeps_the_last_good(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("version: 1\nrules:\n  - {id: a, effect: allow, anonymous: true}\n")
    bad.write_text("version: 1\nrules:\n  - {id: a, effect: permit}\n")
    state = runtime()
    enforcer = PolicyEnforcer(state)
    context: Any = taddons.context
    with context(enforcer) as tctx:
        tctx.configure(enforcer, tulou_policy=str(good))
        digest = state.policy.digest if state.policy else None
        with pytest.raises(exceptions.OptionsError, match="effect must be"):
            tctx.configure(enforcer, tulou_policy=str(bad))
        assert tctx.options.tulou_policy == str(good)  # mitmproxy rolled the option back
        assert state.policy is not None and state.policy.digest == digest


def _flow(path: str, host: str) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.path = path
    flow.request.headers["host"] = host
    flow.client_conn.peername = ("192.0.2.7", 50000)
    StateInit().requestheaders(flow)
    return flow


@pytest.mark.parametrize(
    ("host", "path", "route"),
    [
        ("hr.city.test", "/", "hr"),
        ("hr.city.test", "/api", "hr-api"),
        ("hr.city.test", "/api/x", "hr-api"),
        ("hr.city.test", "/apix", "hr"),
        ("a.apps.test", "/x", "any"),
        ("HR.CITY.TEST.", "/api/../api/x", "hr-api"),
    ],
)
def test_sanitize_then_route(host: str, path: str, route: str) -> None:
    state = runtime()
    flow = _flow(path, host)
    flow.request.headers["X-Forwarded-For"] = "10.0.0.1"
    flow.request.headers["X-Remote-User"] = "root"
    Sanitizer(state).requestheaders(flow)
    Router(state).requestheaders(flow)
    request_state = flow.metadata[STATE_KEY]
    assert flow.response is None
    assert request_state.route.id == route
    assert flow.request.headers["X-Forwarded-For"] == "192.0.2.7"
    assert "X-Remote-User" not in flow.request.headers


@pytest.mark.parametrize(
    ("host", "path", "status", "rule"),
    [
        ("evil.test", "/", 404, "builtin:no-route"),
        ("b.a.apps.test", "/", 404, "builtin:no-route"),
        ("hr.city.test", "/a%2fb", 400, "builtin:bad-request"),
        ("bad host", "/", 400, "builtin:bad-request"),
    ],
)
def test_refusals(host: str, path: str, status: int, rule: str) -> None:
    state = runtime()
    flow = _flow(path, host)
    Sanitizer(state).requestheaders(flow)
    Router(state).requestheaders(flow)
    assert flow.response is not None and flow.response.status_code == status
    assert flow.metadata[STATE_KEY].decision.rule_id == rule
    body = flow.response.content or b""
    assert b"request_id" in body  # no reason or rule id for the client
    assert rule.encode() not in body
