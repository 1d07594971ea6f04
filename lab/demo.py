"""``tulou demo``: the whole platform on embedded defaults, end to end.

Starts the SOC (SQLite) and the city range (the sample apps behind the zero-trust gateway), plays
the scenarios (attacks and benign days) through detection into the SOC, prints the purple-team
table, then leaves the SOC web UI up with the alerts to triage and prints its URL and a login,
until Ctrl-C. While it stays up a detection watcher follows the gateway's audit log, so requests
sent through the gateway by hand are detected too. ``--ci`` runs the same, also logs in to the
web UI and finds a scenario's alert in the queue, then exits: 0 when everything passed, 5 when a
scenario missed or the UI check failed, 7 when a service could not start.

Nothing needs Elasticsearch; everything lives under the data directory (default ``./var``).
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from lab.runner import Outcome
from lab.scenario_cli import purple_table, summary
from lab.scenarios import Scenario, all_scenarios, get
from lab.session import LabSession, open_session
from tulou.clikit import app, emit, json_option
from tulou.errors import UsageError, VerificationError
from tulou.events import format_timestamp


def _say(text: str) -> None:
    if not app().json_output:
        click.echo(text, err=True)


def web_ui_check(soc_url: str, username: str, password: str, titles: Sequence[str]) -> str:
    """Log in to the SOC web UI like a browser; return the first alert title seen in the queue."""
    import httpx  # noqa: PLC0415

    with httpx.Client(base_url=soc_url, follow_redirects=True, timeout=30) as client:
        form = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        if form.status_code != 200 or match is None:
            raise VerificationError(f"the SOC login page is broken (HTTP {form.status_code})")
        page = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": match.group(1)},
        )
        if page.status_code != 200 or "/login" in str(page.url):
            raise VerificationError("could not log in to the SOC web UI as the analyst")
        queue = client.get("/alerts")
        text = html.unescape(queue.text)
        for title in titles:
            if title in text:
                return title
    raise VerificationError("the SOC web UI's alert queue shows none of the scenario alerts")


def follow_from_end(path: Path, state_dir: Path) -> int:
    """Make ``detect tail`` start at the end of ``path`` (the offset of its last complete line).

    The scenarios already ingested every audit line written so far (as per-scenario slices,
    under their own source identities); a tail from offset 0 would store each of them a second
    time under the audit log's identity, and the watcher would fire on them again (alert 9 of
    the demo showed count 48 from 24 events). Writes the follower's documented state file
    (detect/tail.py: path, device, inode, offset, identity) atomically; returns the offset.
    """
    from detect.model import IDENTITY_BYTES, identity_of_head  # noqa: PLC0415
    from detect.tail import Follower  # noqa: PLC0415

    resolved = path.resolve()
    state_file = Follower(resolved, state_dir, None, None).state_file  # type: ignore[arg-type]
    with resolved.open("rb") as handle:
        info = os.fstat(handle.fileno())
        data = handle.read()
        head = os.pread(handle.fileno(), IDENTITY_BYTES, 0)
    offset = data.rfind(b"\n") + 1
    state = {
        "path": str(resolved),
        "device": info.st_dev,
        "inode": info.st_ino,
        "offset": offset,
        "identity": identity_of_head(head) if b"\n" in head else None,
    }
    state_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = state_file.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    temporary.replace(state_file)
    return offset


def _watcher(session: LabSession, data_dir: Path) -> list[subprocess.Popen[bytes]]:
    """detect tail (the gateway's audit log) + detect watch, as child processes."""
    if session.city is None:
        return []
    env = {**session.env}
    log = (data_dir / "lab" / "watcher.log").open("ab")
    base = [sys.executable, "-m", "tulou", "detect"]
    # The watcher starts at "now": what the scenarios played is already in the SOC. The tail
    # starts at the audit log's end (its state is written first), so it reads only requests
    # sent from now on, never the scenarios' lines again.
    audit = Path(session.city.audit_path)
    if audit.is_file():
        follow_from_end(audit, Path(env["TULOU_DATA_DIR"]) / "detect" / "tail")
    since = format_timestamp(datetime.now(UTC))
    store, soc = session.store_url, session.soc.url
    commands = [
        [
            *base,
            "tail",
            str(session.city.audit_path),
            "--format",
            "gateway.audit",
            "--store",
            store,
        ],
        [
            *base,
            "watch",
            "--interval",
            "10",
            "--lookback",
            "60",
            "--since",
            since,
            "--store",
            store,
            "--sink",
            soc,
        ],
    ]
    return [
        subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        for command in commands
    ]


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (both arrive as KeyboardInterrupt)."""
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


@click.command()
@click.option("--ci", is_flag=True, help="Run the demo, check it, and exit with a status.")
@click.option("--port", default=8700, show_default=True, help="Port of the SOC web UI.")
@click.option(
    "--scenario",
    "names",
    multiple=True,
    help="Play only these scenarios (repeatable; default: all of them).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where everything lives (default: the settings' data dir, ./var).",
)
@json_option
def demo(ci: bool, port: int, names: tuple[str, ...], data_dir: Path | None) -> None:
    """Start Tulou on embedded defaults (SQLite, no Elasticsearch) and play the scenarios."""
    started = time.monotonic()
    # SIGTERM unwinds like Ctrl-C, so every child (SOC, gateway, apps) is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    base = (data_dir or app().settings.data_dir).resolve()
    scenarios: list[Scenario] = [get(n) for n in names] if names else all_scenarios()
    if not scenarios:
        raise UsageError("no scenarios are registered")
    _say(f"tulou demo: starting the SOC on port {port} and the city range under {base} ...")
    with open_session(base, scenarios, soc_port=port) as session:
        _say(f"tulou demo: playing {len(scenarios)} scenarios ...")
        outcomes = session.run(
            scenarios, lambda o: _say(f"  [{'pass' if o.ok else 'FAIL'}] {o.name}")
        )
        data = summary(outcomes, time.monotonic() - started, session.store_url)
        sources = session.write_report_sources()
        data["report_sources"] = str(sources) if sources else None
        data["soc"] = {"url": session.soc.url, "username": "analyst"}
        ui_error = None
        if ci:
            titles = [t for o in outcomes for t in o.found.values()]
            try:
                data["web_ui_alert"] = web_ui_check(
                    session.soc.url, "analyst", session.soc.analyst_password, titles
                )
            except VerificationError as exc:
                ui_error = str(exc)
                data["ok"] = False
                data["web_ui_error"] = ui_error
        emit(data, human=lambda: _print_human(outcomes, session, ci, ui_error))
        if ci:
            if not data["ok"]:
                failed = [o.name for o in outcomes if not o.ok]
                raise VerificationError(
                    "demo failed: " + (", ".join(failed) if failed else "") + (ui_error or "")
                )
            return
        watchers = _watcher(session, base)
        try:
            _wait_for_interrupt()
        finally:
            for process in watchers:
                process.terminate()
            for process in watchers:
                process.wait(10)
        _say("tulou demo: stopped")


def _print_human(
    outcomes: Sequence[Outcome], session: LabSession, ci: bool, ui_error: str | None
) -> None:
    purple_table(outcomes)
    passed = sum(o.ok for o in outcomes)
    click.echo(f"\n{passed}/{len(outcomes)} scenarios passed.")
    if ci:
        click.echo("SOC web UI check: " + (ui_error or "logged in and found the alerts"))
        return
    click.echo(
        f"\nThe SOC is up with the alerts to triage:\n\n"
        f"    {session.soc.url}/login\n"
        f"    user: analyst\n"
        f"    password: {session.soc.analyst_password}\n\n"
        f"(the password is kept in {session.soc.data_dir / 'soc' / 'lab-analyst.password'}, "
        f"mode 0600)\nPress Ctrl-C to stop everything."
    )
