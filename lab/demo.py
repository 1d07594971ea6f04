"""``tulou demo``: the platform on embedded defaults, end to end.

Grows with the platform: each component adds its step here once it is real.
"""

from __future__ import annotations

import time

import click

from tulou.clikit import app, emit, json_option


@click.command()
@click.option("--ci", is_flag=True, help="Run the demo steps, then exit with a status.")
@json_option
def demo(ci: bool) -> None:
    """Start Tulou on embedded defaults (SQLite, no Elasticsearch) and run the demo steps."""
    settings = app().settings
    started = time.monotonic()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, object]] = [
        {"step": "data directory", "ok": True, "detail": str(settings.data_dir.resolve())},
    ]
    emit(
        {
            "ok": all(bool(s["ok"]) for s in steps),
            "steps": steps,
            "seconds": round(time.monotonic() - started, 3),
        },
        human="\n".join(
            f"[{'ok' if s['ok'] else 'FAIL'}] {s['step']}: {s['detail']}" for s in steps
        ),
    )
