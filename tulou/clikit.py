"""What every command group shares: the application context, ``--json`` and output helpers.

Conventions (docs/cli.md):

- Human output goes to stdout; progress, warnings and errors go to stderr.
- ``--json`` (global, or on any command) prints exactly one JSON document on stdout.
- Errors are raised as :class:`tulou.errors.TulouError` subclasses and translated to an exit
  code once, in :func:`tulou.cli.main`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported on first use: pydantic-settings costs ~0.3 s of every start-up
    from tulou.settings import Settings


@dataclass
class AppContext:
    """Per-invocation state. Settings are loaded on first use, once."""

    config_file: Path | None = None
    json_output: bool = False
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from tulou.settings import load_settings  # noqa: PLC0415 - see the import above

            self._settings = load_settings(self.config_file)
        return self._settings


_last: AppContext | None = None


def app(ctx: click.Context | None = None) -> AppContext:
    """The AppContext of the current invocation (the last one, once click has returned)."""
    global _last  # noqa: PLW0603 - error translation runs after click popped its context
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return _last if _last is not None else AppContext()
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    _last = root.obj
    return root.obj


def reset() -> None:
    """Forget the last invocation (tests run many in one process)."""
    global _last  # noqa: PLW0603
    _last = None


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        app(ctx).json_output = True
    return value


def json_option[F: Callable[..., Any]](func: F) -> F:
    """Add ``--json`` to a command (same effect as the global ``tulou --json``)."""
    return click.option(
        "--json",
        "json_flag",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print one JSON document on stdout instead of text.",
    )(func)


def emit(data: Any, human: str | Callable[[], None] | None = None) -> None:
    """Print ``data`` as JSON under ``--json``, else the human form (text or a printer)."""
    if app().json_output:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))
    elif callable(human):
        human()
    elif human is not None:
        click.echo(human)
    else:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def warn(message: str) -> None:
    click.echo(f"tulou: warning: {message}", err=True)


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
