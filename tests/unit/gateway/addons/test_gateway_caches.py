"""Caches derived from loaded state are dropped by every reload (policy, issuers, revocations,
inventory): the reload generation moves on each successful configure (a refused one is rolled
back by mitmproxy, which re-applies the last good file: that counts too), and the assertion
addon signs anew after it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http

from gateway.addons.assertion import Assertion
from gateway.addons.authenticator import Authenticator
from gateway.addons.device_posture import DevicePosture
from gateway.addons.policy_enforcer import PolicyEnforcer
from gateway.addons.revoker import Revoker
from gateway.addons.state_init import StateInit
from gateway.config import load_config
from gateway.policy import Decision
from gateway.state import STATE_KEY, Runtime
from lab.gateway_kit import write_example

with warnings.catch_warnings():
    # mitmproxy.addons (imported by the runner) and mitmproxy.test pull in ldap3, which
    # touches a deprecated pyasn1 name at import time (see test_gateway_addons.py).
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy.test import taddons, tflow

    from gateway.runner import build_runtime

OPTIONS = {
    "tulou_policy": "policy.yaml",
    "tulou_issuers": "issuers.yaml",
    "tulou_revocations": "revocations.yaml",
    "tulou_inventory": "inventory.yaml",
}


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("gw") / "gw"
    write_example(target)
    return target


def allowed_flow(runtime: Runtime) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.path = "/api/x"
    StateInit().requestheaders(flow)
    state = flow.metadata[STATE_KEY]
    state.route = runtime.config.routes[0]
    state.path = "/api/x"
    state.decision = Decision(True, "hr-read", "allowed")
    return flow


def header_of(addon: Assertion, runtime: Runtime) -> str:
    flow = allowed_flow(runtime)
    addon.requestheaders(flow)
    return str(flow.request.headers["X-Tulou-Identity"])


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_every_reload_drops_the_assertion_cache(example: Path, option: str) -> None:
    runtime = build_runtime(load_config(example / "gateway.yaml"))
    try:
        check_reload_drops_the_cache(runtime, example, option)
    finally:
        runtime.audit.close()


def check_reload_drops_the_cache(runtime: Runtime, example: Path, option: str) -> None:
    addons: list[Any] = [
        PolicyEnforcer(runtime),
        Authenticator(runtime),
        Revoker(runtime),
        DevicePosture(runtime),
        Assertion(runtime),
    ]
    context: Any = taddons.context
    with context(*addons) as tctx:
        for addon in addons[:4]:
            (name,) = _owned(addon)
            tctx.configure(addon, **{name: str(example / OPTIONS[name])})
        assertion = addons[4]
        first = header_of(assertion, runtime)
        assert header_of(assertion, runtime) == first  # reused while nothing changed
        generation = runtime.generation
        owner = next(a for a in addons[:4] if option in _owned(a))
        # A reload, even of identical content, drops them.
        tctx.configure(owner, **{option: str(example / OPTIONS[option])})
        assert runtime.generation > generation
        assert header_of(assertion, runtime) != first


def _owned(addon: Any) -> set[str]:
    return {
        PolicyEnforcer: {"tulou_policy"},
        Authenticator: {"tulou_issuers"},
        Revoker: {"tulou_revocations"},
        DevicePosture: {"tulou_inventory"},
    }[type(addon)]
