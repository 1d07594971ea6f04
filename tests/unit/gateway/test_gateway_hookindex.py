"""The indexed addon manager dispatches exactly like mitmproxy's own (same calls, same order,
same isolation of failures, AddonHalt), only skipping addons without a handler."""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

import pytest
from mitmproxy import exceptions, hooks
from mitmproxy.addonmanager import AddonManager

with warnings.catch_warnings():
    # mitmproxy.master imports mitmproxy.addons, whose proxyauth pulls in ldap3, which touches
    # a deprecated pyasn1 name at import time (not our code).
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy.master import Master
    from mitmproxy.options import Options

from gateway.hookindex import IndexedAddonManager, install

CALLS: list[str] = []
# mitmproxy's hook classes are untyped dataclasses.
RunningHook: Any = hooks.RunningHook
DoneHook: Any = hooks.DoneHook
OptionsError: Any = exceptions.OptionsError


class Plain:
    def __init__(self, name: str) -> None:
        self.name = name

    def running(self) -> None:
        CALLS.append(f"{self.name}.running")


class Async:
    def __init__(self, name: str) -> None:
        self.name = name

    async def running(self) -> None:
        await asyncio.sleep(0)
        CALLS.append(f"{self.name}.running")

    def done(self) -> None:
        CALLS.append(f"{self.name}.done")


class Parent:
    """Children are visited after the parent, in order (mitmproxy's ``traverse``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.addons = [Plain(f"{name}-child1"), Async(f"{name}-child2")]

    def running(self) -> None:
        CALLS.append(f"{self.name}.running")


class Failing:
    name = "failing"

    def running(self) -> None:
        CALLS.append("failing.running")
        raise RuntimeError("boom")


class Halting:
    name = "halting"

    def done(self) -> None:
        CALLS.append("halting.done")
        raise exceptions.AddonHalt


class Nothing:
    name = "nothing"


def chain() -> list[Any]:
    return [
        Plain("a"),
        Nothing(),
        Parent("p"),
        Failing(),
        Async("b"),
        Halting(),
        Async("c"),
    ]


def new_master() -> Any:
    master: Any = Master(Options(), event_loop=asyncio.get_running_loop())
    # The master hooks a log handler bound to this loop into the root logger: unhooked after
    # the test, or later log records would go to a closed loop.
    MASTERS.append(master)
    return master


MASTERS: list[Any] = []


@pytest.fixture(autouse=True)
def _unhook_masters() -> Any:
    yield
    while MASTERS:
        MASTERS.pop()._legacy_log_events.uninstall()


async def run(indexed: bool) -> list[str]:
    master = new_master()
    if indexed:
        manager = install(master)
        assert isinstance(manager, IndexedAddonManager) and master.addons is manager
    master.addons.add(*chain())
    CALLS.clear()
    try:
        await master.addons.trigger_event(RunningHook())
        await master.addons.trigger_event(DoneHook())
        await master.addons.trigger_event(hooks.UpdateHook([]))  # nobody handles it
    finally:
        master._legacy_log_events.uninstall()
    return list(CALLS)


def test_same_calls_in_the_same_order_as_mitmproxy(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        stock = asyncio.run(run(indexed=False))
        stock_errors = [r.getMessage() for r in caplog.records]
        caplog.clear()
        indexed = asyncio.run(run(indexed=True))
        indexed_errors = [r.getMessage() for r in caplog.records]
    assert indexed == stock
    # The failing addon's error is logged and the later addons still ran; halt stopped "done".
    assert "b.running" in indexed and "c.running" in indexed
    assert indexed[-2:] == ["b.done", "halting.done"]
    assert indexed_errors == stock_errors == ["Addon error: boom"]


def test_the_index_follows_addons_added_and_removed() -> None:
    async def scenario() -> list[str]:
        master = new_master()
        install(master)
        first, second = Plain("one"), Plain("two")
        master.addons.add(first)
        CALLS.clear()
        await master.addons.trigger_event(RunningHook())
        master.addons.add(second)
        await master.addons.trigger_event(RunningHook())
        master.addons.remove(first)
        await master.addons.trigger_event(RunningHook())
        master.addons.chain.append(Plain("three"))  # behind the manager's back
        await master.addons.trigger_event(RunningHook())
        return list(CALLS)

    assert asyncio.run(scenario()) == [
        "one.running",
        "one.running",
        "two.running",
        "two.running",
        "two.running",
        "three.running",
    ]


def test_install_replaces_a_fresh_manager_only() -> None:
    async def scenario() -> None:
        master = new_master()
        old: AddonManager = master.addons
        install(master)
        assert not any(ref() == old._configure_all for ref in master.options.changed.receivers)
        late = new_master()
        late.addons.add(Plain("x"))
        with pytest.raises(exceptions.AddonManagerError, match="before adding addons"):
            install(late)

    asyncio.run(scenario())


class Refusing:
    name = "refusing"

    def running(self) -> None:
        raise OptionsError("bad option")


@pytest.mark.parametrize("indexed", [False, True])
def test_options_errors_propagate_like_mitmproxy(indexed: bool) -> None:
    async def scenario() -> None:
        master = new_master()
        if indexed:
            install(master)
        master.addons.add(Plain("first"), Refusing(), Plain("never"))
        CALLS.clear()
        with pytest.raises(exceptions.OptionsError, match="bad option"):
            await master.addons.trigger_event(RunningHook())
        assert CALLS == ["first.running"]

    asyncio.run(scenario())


class FlowWatcher:
    """Records the flow hooks it gets and, if ``updates``, the update hooks too."""

    def __init__(self, name: str, *, updates: bool) -> None:
        self.name = name
        if updates:
            self.update = self._update

    def request(self, flow: Any) -> None:
        CALLS.append(f"{self.name}.request:{flow.id}")

    async def response(self, flow: Any) -> None:
        await asyncio.sleep(0)
        CALLS.append(f"{self.name}.response:{flow.id}")

    def client_connected(self, client: Any) -> None:
        CALLS.append(f"{self.name}.client_connected")

    def _update(self, flows: list[Any]) -> None:
        CALLS.append(f"{self.name}.update:{','.join(f.id for f in flows)}")


async def run_lifecycle(indexed: bool, updates: bool) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see the imports above
        from mitmproxy.proxy import server_hooks
        from mitmproxy.proxy.layers.http import _hooks as http_hooks
        from mitmproxy.test import tflow
    master = new_master()
    if indexed:
        install(master)
    master.addons.add(FlowWatcher("a", updates=False), Nothing(), FlowWatcher("b", updates=updates))
    flow = tflow.tflow()
    flow.id = "flow-1"  # the same in both runs
    CALLS.clear()
    hook: Any = http_hooks.HttpRequestHook
    await master.addons.handle_lifecycle(hook(flow))
    hook = http_hooks.HttpResponseHook
    await master.addons.handle_lifecycle(hook(flow))
    hook = server_hooks.ClientConnectedHook
    await master.addons.handle_lifecycle(hook(tflow.tclient_conn()))  # not a flow: no update
    return list(CALLS)


@pytest.mark.parametrize("updates", [False, True])
def test_lifecycle_hooks_and_their_updates_as_mitmproxy(updates: bool) -> None:
    stock = asyncio.run(run_lifecycle(indexed=False, updates=updates))
    indexed = asyncio.run(run_lifecycle(indexed=True, updates=updates))
    assert indexed == stock
    assert sum(".update:" in call for call in indexed) == (2 if updates else 0)
    assert [call.split(":")[0] for call in indexed[:2]] == ["a.request", "b.request"]
    assert indexed[-2:] == ["a.client_connected", "b.client_connected"]
