"""Fault injection in every addon: no exception anywhere forwards a request (issue 16, finding 6).

The gateway process is started through a bootstrap that wraps every flow hook of every
gateway addon class: the wrapper raises ``RuntimeError("injected fault")`` when the request
carries ``X-Fault: <Class>.<hook>`` and otherwise calls the real method. One gateway serves
every case. For each hook an otherwise *allowed* request (alice's laptop, a valid token) is
sent with the fault named, and the test checks what the client got, what reached the app and
the audit line. A second gateway injects faults into the client-certificate check.
"""

from __future__ import annotations

import inspect
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import gateway.addons as addon_package
from tests.integration.gateway.conftest import Pki, RunningGateway, call, launch, stop, write_setup

FLOW_HOOKS = ("requestheaders", "request", "responseheaders", "response", "error")
BOOTSTRAP = textwrap.dedent(
    """
    import functools, inspect, os, sys
    from mitmproxy import http
    import gateway.addons as package
    from gateway.devices import DeviceVerifier
    from gateway.addons.tls_guard import TlsGuard

    def wrap(cls, name):
        original = getattr(cls, name)

        def fault(args):
            target = args[0] if args else None
            if isinstance(target, http.HTTPFlow):
                if target.request.headers.get("x-fault") == f"{cls.__name__}.{name}":
                    raise RuntimeError("injected fault")

        if inspect.iscoroutinefunction(original):
            async def hooked(self, *args):
                fault(args)
                return await original(self, *args)
        else:
            def hooked(self, *args):
                fault(args)
                return original(self, *args)
        setattr(cls, name, functools.wraps(original)(hooked))

    for cls in __CLASSES__:
        for hook in __HOOKS__:
            if hook in vars(cls):
                wrap(cls, hook)
    if os.environ.get("TULOU_TEST_FAULT") == "verify":
        def broken(self, chain):
            raise RuntimeError("injected fault in the chain check")
        DeviceVerifier.verify = broken
    if os.environ.get("TULOU_TEST_FAULT") == "tls":
        def raising(self, data):
            raise RuntimeError("injected fault before any outcome")
        TlsGuard.tls_established_client = raising
    from tulou.cli import main
    sys.argv = ["tulou", *sys.argv[1:]]
    main()
    """
)


def addon_classes() -> list[type]:
    return [
        value
        for name, value in vars(addon_package).items()
        if inspect.isclass(value)
        and value.__module__.startswith("gateway.addons.")
        and name not in ("Failsafe",)
    ]


def hooks() -> list[str]:
    return [
        f"{cls.__name__}.{hook}"
        for cls in addon_classes()
        for hook in FLOW_HOOKS
        if hook in vars(cls)
    ]


def bootstrap() -> tuple[str, ...]:
    names = ", ".join(f"package.{cls.__name__}" for cls in addon_classes())
    code = BOOTSTRAP.replace("__CLASSES__", f"[{names}]").replace("__HOOKS__", repr(FLOW_HOOKS))
    return ("-c", code)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, pki: Pki, upstream: Any) -> Any:
    path = write_setup(tmp_path_factory.mktemp("faulty"), pki, upstream.server_address[1])
    gateway = launch(path, bootstrap())
    yield gateway
    stop(gateway)


def test_every_addon_class_is_covered() -> None:
    covered = {name.split(".")[0] for name in hooks()}
    # every addon with a flow hook is in the list (AdminServer and Reloader have none)
    assert covered >= {
        "StateInit", "Shield", "TlsGuard", "Sanitizer", "Router", "DevicePosture",
        "Authenticator", "RateLimit", "PolicyEnforcer", "Revoker", "Assertion", "Forwarder",
        "Envelope", "Auditor",
    }  # fmt: skip


def test_the_request_is_allowed_without_a_fault(faulty: RunningGateway, pki: Pki) -> None:
    response, event = call(faulty, pki, token=pki.token("es-1"))
    assert response.status_code == 200 and event["event.outcome"] == "success"


@pytest.mark.parametrize("where", hooks())
def test_a_fault_denies_and_names_itself(
    where: str, faulty: RunningGateway, pki: Pki, upstream: Any
) -> None:
    addon, hook = where.split(".")
    before = len(upstream.received)
    if hook == "error":  # an upstream that is down: mitmproxy answers 502 itself
        response, _ = call(
            faulty, pki, "/public/x", host="down.city.test", headers={"X-Fault": where}
        )
        assert response.status_code == 502
        # mitmproxy's 502 carries no request id: find the line by its failure
        deadline = time.monotonic() + 5
        found: list[dict[str, Any]] = []
        while not found and time.monotonic() < deadline:
            found = [e for e in faulty.audit() if where in e["event.reason"]]
            time.sleep(0.02)
        assert len(found) == 1
        event = found[0]
    else:
        response, event = call(faulty, pki, token=pki.token("es-1"), headers={"X-Fault": where})
        assert response.status_code == 500, response.text
        assert response.json()["error"] == "internal error"  # nothing about the failure
    assert event["rule.id"] == "builtin:internal-error"
    assert event["event.outcome"] == "failure"
    assert f"{addon}.{hook} raised RuntimeError: injected fault" in event["event.reason"]
    if hook in ("requestheaders", "request"):
        assert len(upstream.received) == before  # never forwarded


@pytest.mark.parametrize("fault", ["verify", "tls"])
def test_a_failing_certificate_check_refuses_the_device(
    fault: str, tmp_path: Path, pki: Pki, upstream: Any
) -> None:
    path = write_setup(tmp_path / fault, pki, upstream.server_address[1])
    gateway = launch(path, bootstrap(), env={"TULOU_TEST_FAULT": fault})
    try:
        before = len(upstream.received)
        response, event = call(gateway, pki, token=pki.token("es-1"))
        assert response.status_code == 403
        assert event["rule.id"] == "builtin:device-invalid"  # never taken for "no certificate"
        assert len(upstream.received) == before
        # without a certificate the same request is judged as anonymous, as before
        response, _ = call(gateway, pki, device=None, token=pki.token("es-1"))
        assert response.status_code in (401, 403)
    finally:
        stop(gateway)
