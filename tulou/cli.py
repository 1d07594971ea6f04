"""The ``tulou`` command: global options, lazily loaded command groups, exit-code translation.

Each component owns its command group in its own package (``crypto.cli:crypto`` ...). Groups are
imported only when invoked, so ``tulou --help`` stays fast and a broken component cannot stop the
others from working. Optional parts (the lab: ``tulou demo``, ``tulou lab``) add their groups
through the ``tulou.commands`` entry point, a table like :data:`COMMAND_GROUPS`; the core never
names them. Exit codes are documented in docs/cli.md and :mod:`tulou.errors`.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

import click

from tulou import __version__
from tulou.clikit import AppContext, app, emit, json_option, reset
from tulou.errors import EXIT_CODES, TulouError

#: name -> (module:attribute, one-line help). The order is the order in ``--help``.
COMMAND_GROUPS: dict[str, tuple[str, str]] = {
    "gateway": ("gateway.cli:gateway", "Zero-trust access proxy: run, policy, tokens."),
    "crypto": ("crypto.cli:crypto", "SM2/SM3/SM4: keys, sign, verify, encrypt, envelopes."),
    "detect": ("detect.cli:detect", "Ingest pcaps and logs as ECS events, search, run rules."),
    "rules": ("detect.cli:rules", "Sigma rules: check, convert, list."),
    "soc": ("soc.cli:soc", "Security operations center: serve the API and web UI, audit."),
    "backup": ("backup.cli:backup", "Encrypted, deduplicated, multi-site backups."),
    "drill": ("backup.cli:drill", "Disaster-recovery drills with measured RTO/RPO."),
    "report": ("compliance.cli:report", "Signed compliance reports for regulators."),
}

#: The entry-point group optional parts register their command tables under.
PLUGIN_GROUP = "tulou.commands"


def _plugin_groups() -> dict[str, tuple[str, str]]:
    """Command groups of installed optional parts (entry points ``tulou.commands``)."""
    from importlib.metadata import entry_points  # noqa: PLC0415 - only when listing/dispatching

    found: dict[str, tuple[str, str]] = {}
    for point in sorted(entry_points(group=PLUGIN_GROUP), key=lambda p: p.name):
        table = point.load()
        for name, target in dict(table).items():
            if name in COMMAND_GROUPS or name in found:
                raise TypeError(f"entry point {point.value}: command {name!r} already exists")
            found[str(name)] = (str(target[0]), str(target[1]))
    return found


def all_groups() -> dict[str, tuple[str, str]]:
    """The core groups, then the optional parts' groups."""
    return {**COMMAND_GROUPS, **_plugin_groups()}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*all_groups(), *sorted(self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMAND_GROUPS.get(cmd_name) or all_groups().get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target[0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in all_groups().items()]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TULOU_CONFIG",
    help="Settings file (TOML). Default: tulou.toml in the working directory, if present.",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document on stdout.")
@click.option("-v", "--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, json_output: bool, debug: bool) -> None:
    """Tulou: the security platform of a city's digital government.

    Exit codes: 0 ok, 1 bug, 2 usage, 3 config, 4 input, 5 verification failed,
    6 not found, 7 unavailable, 8 denied. See docs/cli.md.
    """
    ctx.obj = AppContext(config_file=config_file, json_output=json_output, debug=debug)
    app(ctx)


@cli.command()
@json_option
def version() -> None:
    """Print the version of Tulou and of its native crypto backends."""
    import platform  # noqa: PLC0415 - only this command needs it

    data = {"tulou": __version__, "python": platform.python_version()}
    for dist in ("cryptography", "tongsuopy", "mitmproxy", "pySigma", "elasticsearch"):
        try:
            from importlib.metadata import version as dist_version  # noqa: PLC0415

            data[dist] = dist_version(dist)
        except Exception:  # noqa: BLE001 - a missing optional distribution is not an error
            data[dist] = "not installed"
    emit(data, human="\n".join(f"{k:14} {v}" for k, v in data.items()))


@cli.command("exit-codes")
@json_option
def exit_codes() -> None:
    """List the exit codes and what they mean."""
    emit(
        {str(code): text for code, text in EXIT_CODES.items()},
        human="\n".join(f"{code:4}  {text}" for code, text in EXIT_CODES.items()),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and translate errors to exit codes, once."""
    reset()
    try:
        rv = cli.main(args=argv, prog_name="tulou", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("tulou: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("tulou: interrupted", err=True)
        return 130
    except TulouError as exc:
        return _report(exc, exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a clear one-liner
        return _report(exc, 1)
    # With standalone_mode=False click returns the code of ctx.exit(n) instead of raising.
    return rv if isinstance(rv, int) else 0


def _report(exc: BaseException, code: int) -> int:
    context = app()
    if context.debug:
        traceback.print_exception(exc)
    if context.json_output:
        emit({"ok": False, "exit_code": code, "error": str(exc), "type": type(exc).__name__})
    message = str(exc) if isinstance(exc, TulouError) else f"{type(exc).__name__}: {exc}"
    hint = "" if context.debug or isinstance(exc, TulouError) else " (run with --debug)"
    click.echo(f"tulou: error: {message}{hint}", err=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
