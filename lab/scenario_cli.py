"""``tulou lab scenario list | run NAME... | run-all`` and ``tulou lab run-all``.

Exit status: 0 when every scenario found all its expected alerts in the SOC and every benign
scenario stayed silent; 5 (verification failed) otherwise; 7 when a service could not start.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from lab.runner import Outcome
from lab.scenarios import Scenario, all_scenarios, get
from lab.session import open_session
from tulou.clikit import app, emit, json_option
from tulou.errors import VerificationError


def purple_table(outcomes: Sequence[Outcome]) -> None:
    """Scenario -> expected alerts -> found -> time to detect, as a rich table on stdout."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Purple team: scenarios against detection", show_lines=True)
    for column in ("scenario", "expected alerts", "found in SOC", "time to detect", "result"):
        table.add_column(column)
    for o in outcomes:
        expected = "\n".join(o.expected.values()) or "nothing (benign baseline)"
        if o.benign:
            found = (
                "nothing" if o.alerts == 0 else f"{o.alerts} alerts: " + ", ".join(o.also.values())
            )
        else:
            found = "\n".join(
                ("✓ " if rid in o.found else "✗ ") + title for rid, title in o.expected.items()
            )
            if o.also:
                found += "\n(also: " + ", ".join(o.also.values()) + ")"
        ttd = f"{o.seconds_to_detect:.1f} s" if o.seconds_to_detect is not None else "-"
        result = "[green]pass[/green]" if o.ok else "[red]FAIL[/red]"
        if o.error:
            result += f"\n{o.error}"
        table.add_row(f"{o.name}\n{o.title}", expected, found, ttd, result)
    Console(soft_wrap=False, width=160).print(table)


def summary(outcomes: Sequence[Outcome], seconds: float, store: str) -> dict[str, object]:
    return {
        "ok": all(o.ok for o in outcomes),
        "store": store.split("://", 1)[0] if store.startswith("sqlite") else "elasticsearch",
        "scenarios": [o.as_dict() for o in outcomes],
        "passed": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "seconds": round(seconds, 2),
    }


def _progress(outcome: Outcome) -> None:
    if not app().json_output:
        mark = "pass" if outcome.ok else "FAIL"
        click.echo(f"  [{mark}] {outcome.name} ({outcome.seconds:.1f} s)", err=True)


def run_and_report(
    scenarios: Sequence[Scenario], store: str | None, data_dir: Path | None
) -> list[Outcome]:
    """Open a session, run ``scenarios``, print the table (or JSON); raise if any failed."""
    started = time.monotonic()
    base = data_dir or app().settings.data_dir
    extra = " and the city range" if any(s.needs_range for s in scenarios) else ""
    click.echo(f"tulou lab: starting the SOC{extra}...", err=True)
    with open_session(base, scenarios, store_url=store) as session:
        outcomes = session.run(scenarios, _progress)
        store_url = session.store_url
    data = summary(outcomes, time.monotonic() - started, store_url)
    emit(data, human=lambda: purple_table(outcomes))
    if not data["ok"]:
        failed = ", ".join(o.name for o in outcomes if not o.ok)
        raise VerificationError(f"scenarios failed: {failed}")
    return outcomes


_store = click.option(
    "--store",
    help="Event store URL (default: SQLite under the data dir; e.g. http://127.0.0.1:9200/lab).",
)
_data = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SOC, the range and the store live (default: the settings' data dir).",
)


@click.group("scenario")
def scenario() -> None:
    """Attack scenarios (and benign days) played end to end against detection and the SOC."""


@scenario.command("list")
@json_option
def list_command() -> None:
    """List the scenarios, what each plays and which alerts it must raise."""
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "title": s.title,
            "techniques": list(s.techniques),
            "expects": list(s.expects),
            "needs_range": s.needs_range,
        }
        for s in all_scenarios()
    ]
    human = "\n".join(
        f"{r['name']:24} {r['title']}  [{', '.join(r['techniques']) or 'benign'}]" for r in rows
    )
    emit(rows, human=human or "no scenarios")


@scenario.command("run")
@click.argument("names", nargs=-1, required=True)
@_store
@_data
@json_option
def run_command(names: tuple[str, ...], store: str | None, data_dir: Path | None) -> None:
    """Run the named scenarios (in the order given)."""
    run_and_report([get(n) for n in names], store, data_dir)


@click.command("run-all")
@_store
@_data
@json_option
def run_all(store: str | None, data_dir: Path | None) -> None:
    """Run every scenario and print the purple-team table; exit 5 on any miss or benign alert."""
    run_and_report(all_scenarios(), store, data_dir)


scenario.add_command(run_all)
