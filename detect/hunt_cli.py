"""``tulou detect hunt PATHS --rules DIR``: ingest evidence and run rules in one command.

Documented in docs/detect.md ("Hunting"). Exit codes: 0 done (whatever was found); 2 usage;
4 an input that cannot be read; 7 the given store is unreachable.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tulou.clikit import app, emit, json_option, stderr_is_tty, warn
from tulou.errors import InputError, UnavailableError

_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@contextmanager
def _store_url(store: str | None) -> Iterator[tuple[str, Path]]:
    """The store URL and a scratch directory (spool, dead letters); a temporary SQLite store
    when none is given, removed afterwards with the scratch directory."""
    scratch = Path(tempfile.mkdtemp(prefix="tulou-hunt-"))
    try:
        yield (store or f"sqlite://{scratch / 'events.db'}"), scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _ingest(files: list[Path], url: str, scratch: Path, dead_letter: Path | None) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn  # noqa: PLC0415

    from detect.cli_store import ingest_pipeline as _pipeline  # noqa: PLC0415
    from detect.parsers import default_registry  # noqa: PLC0415

    registry = default_registry()
    ingestor = _pipeline(
        url, dead_letter or scratch / "dead-letter.ndjson", scratch / "spool", 5000
    )
    ingestor.writer.replay()
    skipped: list[dict[str, str]] = []
    total = sum(p.stat().st_size for p in files)
    show = stderr_is_tty() and not app().json_output
    bar = (
        Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=True)
        if show
        else nullcontext()
    )
    with bar as progress:
        task = progress.add_task("ingest", total=total) if progress is not None else None
        done = 0
        for path in files:

            def advance(position: int, base: int = done) -> None:
                if progress is not None and task is not None:
                    progress.update(task, completed=base + position)

            try:
                ingestor.ingest_path(path, registry, None, progress=advance)
            except InputError as exc:  # a README or an image beside the evidence
                skipped.append({"path": str(path), "reason": exc.message})
            done += path.stat().st_size
            if progress is not None and task is not None:
                progress.update(task, completed=done)
    summary = ingestor.finish(30.0)
    ingestor.dead_letters.close()
    if summary.buffered:
        ingestor.writer.store.close()
        raise UnavailableError(f"{summary.buffered} events could not be stored: store unreachable")
    return ingestor.writer.store, summary, skipped


def _events(store: Any, ids: list[str]) -> dict[str, Any]:
    from detect.stores.base import FetchesByIds, Query  # noqa: PLC0415

    if isinstance(store, FetchesByIds):
        found = store.by_ids(ids)
    else:
        found = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            found.extend(store.search(Query({"event.id": chunk}, limit=len(chunk))))
    return {e["event.id"]: e for e in found}


@click.command("hunt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Sigma rules (file or directory; repeatable), e.g. SigmaHQ's rules/windows.",
)
@click.option("--store", help="Store URL to ingest into (default: a temporary SQLite store).")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the timeline (one row per detection and event) to this CSV file.",
)
@click.option(
    "--dead-letter",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dead-letter file (default: in the temporary directory, removed afterwards).",
)
@json_option
def hunt(
    paths: tuple[Path, ...],
    rule_paths: tuple[Path, ...],
    store: str | None,
    csv_path: Path | None,
    dead_letter: Path | None,
) -> None:
    """Ingest PATHS (EVTX, pcaps, logs; folders recursively) and run the rules over them."""
    from detect.hunt import by_rule, evidence_files, timeline, write_csv  # noqa: PLC0415
    from detect.rules.evaluate import run_rules  # noqa: PLC0415
    from detect.rules.targets import target_for  # noqa: PLC0415
    from detect.rules_cli import _compiled, _pipeline  # noqa: PLC0415

    files = evidence_files(paths)
    with _store_url(store) as (url, scratch):
        opened, summary, skipped = _ingest(files, url, scratch, dead_letter)
        try:
            target = target_for(url, opened, _pipeline(None))
            compilation = _compiled(rule_paths, target)
            result = run_rules(compilation, target, *_ALL_TIME)
            alerts = sorted(result.alerts, key=lambda a: (a.first_seen, a.title))
            wanted = sorted({i for a in alerts for i in a.event_ids})
            rows = timeline(alerts, _events(opened, wanted))
        finally:
            opened.close()
    for item in skipped:
        warn(f"{item['path']}: {item['reason']} (skipped)")
    if csv_path is not None:
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            write_csv(out, rows)
    table = by_rule(alerts)
    data = {
        "ingest": summary.as_dict(),
        "skipped": skipped,
        "rules": {"compiled": len(compilation.rules), "problems": len(compilation.problems)},
        "rules_run": sum(1 for s in result.stats.values() if not s.skipped),
        "detections": len(rows),
        "by_rule": table,
        "alerts": [a.to_dict() for a in alerts],
        "timeline_csv": str(csv_path) if csv_path else None,
    }

    def human() -> None:
        from rich.console import Console  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415

        console = Console()
        grid = Table(title=f"{len(rows)} detections, {len(table)} rules fired")
        for column in ("level", "rule", "events", "first seen", "last seen"):
            grid.add_column(column, overflow="fold")
        for line in table:
            grid.add_row(
                line["level"],
                line["title"],
                str(line["events"]),
                line["first_seen"],
                line["last_seen"],
            )
        console.print(grid)
        counts = summary.as_dict()
        console.print(
            f"read {counts['read']}, stored {counts['stored']}, duplicates "
            f"{counts['duplicates']}, collisions {counts['collisions']}, dead-lettered "
            f"{counts['dead_lettered']}; {len(compilation.rules)} rules compiled, "
            f"{data['rules_run']} run" + (f"; timeline: {csv_path}" if csv_path else "")
        )

    emit(data, human=human)
