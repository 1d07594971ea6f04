"""`lab` commands: start, stop and inspect the lab's own services (today: Elasticsearch).

Exit codes: 0 success (for `status`: the node runs), 1 failure (for `status`: the node does not
run), 2 usage error (click's own).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from lab.elasticsearch import DEFAULT_PORT, LabElasticsearch, LabElasticsearchError
from tulou.clikit import emit, json_option

ES_URL_ENV = "TULOU_ES_URL"


def _state_dir() -> Path:
    """The lab's data directory: `$TULOU_DATA_DIR`, default `./var`."""
    return Path(os.environ.get("TULOU_DATA_DIR", "var")) / "lab" / "elasticsearch"


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(payload, sort_keys=True) if as_json else text)


@click.group(name="lab")
def lab() -> None:
    """The test range: Elasticsearch node, sample apps, scenarios (run-all: the purple team)."""


@lab.command("gateway-example")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--owner", default="alice", show_default=True, help="Subject owning the laptop.")
@json_option
def gateway_example(target: Path, owner: str) -> None:
    """Write a runnable copy of the gateway example config with fresh lab keys and
    certificates (the CA keys stay beside it, 0600: for the lab only)."""
    from lab.gateway_kit import write_example  # noqa: PLC0415

    paths = write_example(target, owner=owner)
    emit(paths, "\n".join(f"{k:22} {v}" for k, v in paths.items()))


@lab.group(name="elasticsearch")
def elasticsearch() -> None:
    """A real single-node Elasticsearch on 127.0.0.1, for tests and the lab only.

    Security is off: the node listens on loopback only. Its state (data, logs, pid) lives under
    $TULOU_DATA_DIR/lab/elasticsearch/. Set TULOU_ES_URL to use an existing cluster instead.
    """


@elasticsearch.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="HTTP port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--heap-mb",
    type=click.IntRange(256, 8192),
    default=1024,
    show_default=True,
    help="Maximum JVM heap in MiB.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=180.0,
    show_default=True,
    help="Seconds to wait for the node to become healthy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def start(port: int, heap_mb: int, timeout: float, as_json: bool) -> None:
    """Start the node (downloading its jars on first use); print its URL.

    Does nothing if the node already runs. With TULOU_ES_URL set, uses that cluster instead
    and starts nothing.
    """
    external = os.environ.get(ES_URL_ENV)
    if external:
        _emit(
            as_json,
            {"url": external, "external": True},
            f"{ES_URL_ENV} is set: using the existing cluster at {external}; nothing started",
        )
        return
    node = LabElasticsearch(_state_dir(), port=port, heap_mb=heap_mb)
    try:
        url = node.start(timeout=timeout)
    except LabElasticsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(as_json, {"url": url, "external": False}, url)


@elasticsearch.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def stop(as_json: bool) -> None:
    """Stop the node and wait until its port is free. A no-op if it does not run."""
    try:
        was_running = LabElasticsearch(_state_dir()).stop()
    except LabElasticsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(as_json, {"stopped": was_running}, "stopped" if was_running else "not running")


@elasticsearch.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def status(as_json: bool) -> None:
    """Show whether the node runs, its pid, URL and version. Exit 0 if it runs, 1 if not."""
    info = LabElasticsearch(_state_dir()).status()
    if info["running"]:
        text = f"running: pid {info['pid']}, {info['url']}, version {info['version']}"
        if not info["healthy"]:
            text += " (not healthy yet)"
    else:
        text = "not running"
    _emit(as_json, info, text)
    raise SystemExit(0 if info["running"] else 1)


def _attach_scenarios() -> None:
    from lab.scenario_cli import run_all, scenario  # noqa: PLC0415

    lab.add_command(scenario)
    lab.add_command(run_all)


_attach_scenarios()
