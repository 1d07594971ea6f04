"""Event dispatch that only visits the addons implementing an event (same order, same isolation).

mitmproxy's ``AddonManager.trigger_event`` walks the whole addon chain for every event, and
for each addon builds a ``safecall`` context manager, an ``invoke_addon`` coroutine and two
generators just to find out with ``getattr`` whether it has a handler. A gateway request fires
eight events (``requestheaders``, ``request``, ``responseheaders``, ``response`` and an
``update`` after each) over 21 addons, most of which handle none of them: about 170 such
visits per request. :class:`IndexedAddonManager` keeps, per event name, the handlers of each
top-level addon (its own and its sub-addons', in mitmproxy's traversal order) and calls only
those. What does not change:

- order: top-level addons in chain order, each one's handlers in ``traverse`` order;
- isolation: each top-level addon's failure is handled like mitmproxy's ``safecall`` does (an
  exception is logged by ``safecall`` itself and the next addon still runs; ``AddonHalt`` stops
  the event; ``OptionsError`` propagates), without entering a context manager per addon; then
  ``on_error`` (if given) is told which hook of which addon raised, so the gateway can deny the
  flow instead of letting the next addon judge a half-checked request (fail closed);
- async handlers are awaited, sync ones called; ``trigger`` (sync) is mitmproxy's own;
- ``handle_lifecycle`` (what the proxy calls for each hook of a connection or flow) triggers
  the hook, then an ``update`` hook when its argument is a flow, as mitmproxy does; the
  ``update`` hook object is only built when some addon handles ``update`` (otherwise mitmproxy
  would build it and visit no handler). Hook arguments are read with the hook class's field
  names computed once (mitmproxy's ``Hook.args`` calls ``dataclasses.fields`` every time).

The index is rebuilt whenever addons are added or removed (and, defensively, whenever the
chain list is a different object or length than the one indexed).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
from collections.abc import Callable
from typing import Any

from mitmproxy import exceptions, flow, hooks
from mitmproxy.addonmanager import AddonManager, safecall, traverse

Handlers = list[tuple[str, list[Callable[..., Any]]]]  # (top-level addon name, its handlers)
#: Called as ``on_error(hook name, addon name, hook arguments, exception)`` after an addon
#: raised (and mitmproxy's ``safecall`` logged it): the gateway denies the flow (fail closed).
ErrorHandler = Callable[[str, str, list[Any], Exception], None]
# mitmproxy's addon manager is untyped; these aliases keep mypy strict everywhere else.
_traverse: Any = traverse
_ManagerError: Any = exceptions.AddonManagerError
_BASE_ARGS: Any = hooks.Hook.args
_UPDATE: str = hooks.UpdateHook.name
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class IndexedAddonManager(AddonManager):
    """An ``AddonManager`` whose ``trigger_event`` dispatches through a per-event index."""

    def __init__(self, master: Any, on_error: ErrorHandler | None = None) -> None:
        base: Any = super()
        base.__init__(master)
        self._index: dict[str, Handlers] = {}
        self._indexed: tuple[int, int] = (0, -1)
        self.on_error = on_error

    def register(self, addon: Any) -> Any:
        self._index.clear()
        base: Any = super()
        return base.register(addon)

    def add(self, *addons: Any) -> None:
        base: Any = super()
        base.add(*addons)
        self._index.clear()

    def remove(self, addon: Any) -> None:
        base: Any = super()
        base.remove(addon)
        self._index.clear()

    def clear(self) -> None:
        base: Any = super()
        base.clear()
        self._index.clear()

    def handlers(self, name: str) -> Handlers:
        """Per top-level addon with a handler for ``name``: its handlers, in call order."""
        chain: list[Any] = self.chain
        if self._indexed != (id(chain), len(chain)):
            self._index.clear()
            self._indexed = (id(chain), len(chain))
        found = self._index.get(name)
        if found is None:
            found = []
            for top in chain:
                funcs = []
                for addon in _traverse([top]):
                    func = getattr(addon, name, None)
                    if not func or isinstance(func, types.ModuleType):
                        continue  # mitmproxy skips module attributes named like a hook too
                    if not callable(func):
                        raise _ManagerError(f"Addon handler {name} ({addon}) not callable")
                    funcs.append(func)
                if funcs:
                    found.append((type(top).__name__, funcs))
            self._index[name] = found
        return found

    async def trigger_event(self, event: hooks.Hook) -> None:
        """Trigger ``event`` on the addons that handle it (see the module docstring)."""
        entries = self.handlers(event.name)
        if entries:
            await _dispatch(entries, _arguments(event), event.name, self.on_error)

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        """mitmproxy's ``handle_lifecycle``: ``event``, then ``update`` for a flow argument."""
        args = _arguments(event)
        message = args[0]
        entries = self.handlers(event.name)
        if entries:
            await _dispatch(entries, args, event.name, self.on_error)
        if isinstance(message, flow.Flow):
            updates = self.handlers(_UPDATE)
            if updates:
                update_args = _arguments(hooks.UpdateHook([message]))
                await _dispatch(updates, update_args, _UPDATE, self.on_error)


def _any(value: Any) -> Any:
    return value  # mitmproxy's hooks are dataclasses its annotations do not declare


def _arguments(event: hooks.Hook) -> list[Any]:
    """``event.args()``, with the field names of each hook class looked up once."""
    kind = type(event)
    if kind.args is not _BASE_ARGS:  # a hook with its own ``args``: ask it
        return event.args()
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(_any(kind)))
    return [getattr(event, name) for name in names]


async def _dispatch(
    entries: Handlers, args: list[Any], name: str, on_error: ErrorHandler | None
) -> None:
    for addon, funcs in entries:
        # mitmproxy wraps each addon in ``safecall()``; a try statement costs nothing until
        # something raises, and then safecall itself logs it, so the log is the same.
        try:
            for func in funcs:
                result = func(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
        except exceptions.AddonHalt:
            return
        except exceptions.OptionsError:
            raise
        except Exception as exc:  # the others still run (mitmproxy), and the flow is denied
            with safecall():
                raise
            if on_error is not None:
                try:
                    on_error(name, addon, args, exc)
                except Exception:  # last resort: a flow nobody could deny is killed
                    with safecall():
                        raise
                    target = args[0] if args else None
                    if isinstance(target, flow.Flow) and target.killable:
                        target.kill()


def install(master: Any, on_error: ErrorHandler | None = None) -> IndexedAddonManager:
    """Give a freshly built ``Master`` (no addons yet) an :class:`IndexedAddonManager`."""
    old: AddonManager = master.addons
    if old.chain:
        raise _ManagerError("install the indexed manager before adding addons")
    master.options.changed.disconnect(old._configure_all)
    manager = IndexedAddonManager(master, on_error)
    master.addons = manager
    return manager
