"""The ``tulou detect`` and ``tulou rules`` command groups.

``detect ingest`` / ``tail`` / ``search`` are documented in docs/detect.md. Every ingesting
command prints ``{read, stored, duplicates, collisions, dead_lettered, buffered}`` (``--json``)
and exits
7 (unavailable, the counts in the message) when events are left buffered on disk because the
store stayed unreachable.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from detect.cli_store import ingest_pipeline, open_cli_store, store_url
from tulou.clikit import app, emit, json_option, stderr_is_tty
from tulou.errors import UnavailableError, UsageError
from tulou.events import parse_timestamp


@click.group()
def detect() -> None:
    """Ingest pcaps and logs as ECS events, search them, run rules."""


@click.group()
def rules() -> None:
    """Sigma rules: check, convert, list."""


_store_url = store_url
_open = open_cli_store


_pipeline = ingest_pipeline


def _spool_failed(ingestor: Any, exc: UnavailableError, where: Path) -> UnavailableError:
    """The store is down and the spool cannot be written: stop, with the counts so far."""
    delivery = ingestor.writer.delivery
    done = ", ".join(str(f["path"]) for f in ingestor.files) or "none"
    return UnavailableError(
        f"the store is unreachable ({ingestor.writer.last_error}) and {exc.message}: stopped "
        f"while ingesting {where}, whose events from there on were neither stored nor "
        f"buffered; run again once the store or the spool is writable (files done: {done}; "
        f"stored {delivery.result.stored}, duplicates {delivery.result.duplicates}, "
        f"dead-lettered {ingestor.dead_letters.count}, buffered {ingestor.writer.buffered()})"
    )


def _finish(ingestor: Any, drain_timeout: float) -> None:
    summary = ingestor.finish(drain_timeout)
    ingestor.dead_letters.close()
    ingestor.writer.store.close()
    data = summary.as_dict()
    data["dead_letter_file"] = str(ingestor.dead_letters.path)
    counts = (
        f"read {summary.read}, stored {summary.stored}, duplicates {summary.duplicates}, "
        f"collisions {summary.collisions}, dead-lettered {summary.dead_lettered}, "
        f"buffered {summary.buffered}"
    )
    if summary.collisions:
        # Never expected on distinct inputs: say it where people look, not only in the counts.
        click.echo(
            f"warning: {summary.collisions} events had an id already stored with different "
            "content; they were stored under derived ids (docs/detect.md, Input identity)",
            err=True,
        )
    if summary.buffered:
        # One JSON document per run: under --json the error document carries the counts.
        raise UnavailableError(
            f"{summary.buffered} events stay buffered on disk because the store is unreachable "
            f"({ingestor.writer.last_error}); the next run replays them ({counts})"
        )
    emit(data, human=f"{counts} (dead letters: {ingestor.dead_letters.path})")


_common = [
    click.option("--format", "fmt", help="Parser id (default: detected from the content)."),
    click.option("--store", help="Store URL: sqlite:///path.db or http://es:9200/index."),
    click.option(
        "--dead-letter",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Dead-letter file (default: <data_dir>/detect/dead-letter.ndjson).",
    ),
    click.option(
        "--spool",
        type=click.Path(file_okay=False, path_type=Path),
        help="Buffer used while the store is down (default: <data_dir>/detect/spool/<store>).",
    ),
    # 5,000: a SQLite write costs ~20 % less CPU per event than at 2,000 (docs/performance.md);
    # Elasticsearch requests are split at 8 MiB by the store whatever the batch.
    click.option(
        "--batch-size",
        default=5000,
        show_default=True,
        type=click.IntRange(min=1),
        help="Events per write (one transaction or bulk request).",
    ),
]


_common += [
    click.option(
        "--timezone",
        help="Zone of syslog times that carry none (RFC 3164), e.g. Asia/Shanghai "
        "(default: the sources file's, else Asia/Shanghai).",
    ),
    click.option(
        "--year",
        type=click.IntRange(1970, 9998),
        help="Year of syslog times that carry none (default: inferred per line from the "
        "file's modification time, so a log over New Year is read right).",
    ),
    click.option(
        "--sources",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML file of per-source zones and years (default: <data_dir>/detect/sources.toml "
        "if present; docs/detect.md).",
    ),
]


def _with_common(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


def _sources(file: Path | None, timezone: str | None, year: int | None) -> Any:
    from detect.sources import load_sources  # noqa: PLC0415

    if file is None:
        default = app().settings.path("detect", "sources.toml")
        file = default if default.is_file() else None
    return load_sources(file).with_defaults(timezone, year)


@detect.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_with_common
@click.option(
    "--drain-timeout",
    default=30.0,
    show_default=True,
    help="Seconds to keep retrying an unreachable store before leaving events buffered.",
)
@json_option
def ingest(  # noqa: PLR0917 - click passes options positionally
    paths: tuple[Path, ...],
    fmt: str | None,
    store: str | None,
    dead_letter: Path | None,
    spool: Path | None,
    batch_size: int,
    timezone: str | None,
    year: int | None,
    sources: Path | None,
    drain_timeout: float,
) -> None:
    """Parse PATHS (pcap, pcapng, logs, EVTX, JSON lines) into ECS events and store them."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn  # noqa: PLC0415

    from detect.parsers import default_registry  # noqa: PLC0415
    from detect.spool import SpoolError  # noqa: PLC0415

    if fmt is not None:
        default_registry().get(fmt)  # unknown format: a usage error before any work
    config = _sources(sources, timezone, year)
    ingestor = _pipeline(store, dead_letter, spool, batch_size)
    ingestor.writer.replay()
    files = [p for path in paths for p in (sorted(path.rglob("*")) if path.is_dir() else [path])]
    show = stderr_is_tty() and not app().json_output
    progress = (
        Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=True)
        if show
        else nullcontext()
    )
    with progress as bar:
        for path in files:
            if not path.is_file():
                continue
            # Zone-less syslog times of this file: its source's zone; years no later than
            # its last write.
            registry = default_registry(config.clock_for(path, path.stat().st_mtime))
            try:
                if bar is None:
                    ingestor.ingest_path(path, registry, fmt)
                    continue
                task = bar.add_task(path.name, total=path.stat().st_size)
                ingestor.ingest_path(
                    path, registry, fmt, progress=lambda done, t=task: bar.update(t, completed=done)
                )
            except SpoolError as exc:
                ingestor.dead_letters.close()
                raise _spool_failed(ingestor, exc, path) from exc
            bar.update(task, completed=path.stat().st_size)
    _finish(ingestor, drain_timeout)


@detect.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_with_common
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--once", is_flag=True, help="Read what is there now, then stop.")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@json_option
def tail(  # noqa: PLR0917
    file: Path,
    fmt: str | None,
    store: str | None,
    dead_letter: Path | None,
    spool: Path | None,
    batch_size: int,
    timezone: str | None,
    year: int | None,
    sources: Path | None,
    interval: float,
    once: bool,
    duration: float | None,
) -> None:
    """Follow a growing log FILE, surviving restarts (saved offset) and rotation."""
    from detect.parsers import SNIFF_BYTES, default_registry  # noqa: PLC0415
    from detect.spool import SpoolError  # noqa: PLC0415
    from detect.tail import Follower  # noqa: PLC0415

    # A followed log is being written now: inferred years are no later than now.
    registry = default_registry(_sources(sources, timezone, year).clock_for(file, None))
    if fmt is None:
        if not file.is_file():
            raise UsageError(f"{file} does not exist yet: pass --format to wait for it")
        with file.open("rb") as handle:
            parser = registry.detect(handle.read(SNIFF_BYTES))
    else:
        parser = registry.get(fmt)
    ingestor = _pipeline(store, dead_letter, spool, batch_size)
    follower = Follower(file, app().settings.path("detect", "tail"), ingestor, parser)
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while True:
            follower.poll()
            ingestor.writer.replay()
            if once or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    except SpoolError as exc:
        ingestor.dead_letters.close()
        raise _spool_failed(ingestor, exc, file) from exc
    finally:
        follower.close()
    _finish(ingestor, 0.0 if not once else 5.0)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise UsageError(f"not an ISO 8601 time: {text!r}") from exc


def _filters(items: tuple[str, ...]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"a filter is FIELD=VALUE, got {item!r}")
        parsed: Any = int(value) if value.lstrip("-").isdigit() and len(value) < 16 else value
        previous = filters.get(name)
        if previous is None:
            filters[name] = parsed
        else:
            filters[name] = [*(previous if isinstance(previous, list) else [previous]), parsed]
    return filters


@detect.command()
@click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    help="FIELD=VALUE (repeat: AND; same field twice: OR; * wildcard).",
)
@click.option("--since", help="Start of the time range (ISO 8601, inclusive).")
@click.option("--until", help="End of the time range (ISO 8601, exclusive).")
@click.option("--limit", default=50, show_default=True, help="Most events to print.")
@click.option("--count", "count_only", is_flag=True, help="Print only how many events match.")
@click.option("--store", help="Store URL (default: the configured store).")
@json_option
def search(  # noqa: PLR0917
    filters: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    count_only: bool,
    store: str | None,
) -> None:
    """Find stored events by ECS field values and time range (case-insensitive)."""
    from detect.stores import Query  # noqa: PLC0415

    query = Query(_filters(filters), _when(since), _when(until), limit)
    opened = _open(store)
    try:
        if count_only:
            total = opened.count(query)
            emit({"count": total}, human=str(total))
            return
        events = opened.search(query)
    finally:
        opened.close()

    def human() -> None:
        for event in events:
            summary = str(event.get("message") or event.get("event.action") or "")
            click.echo(f"{event['@timestamp']}  {event['event.dataset']:<14} {summary[:100]}")

    emit({"events": events, "count": len(events)}, human=human)


# The rule commands (check/convert/list, run/watch) live in detect.rules_cli.
from detect.rules_cli import register as _register_rule_commands  # noqa: E402

_register_rule_commands(detect, rules)

# One-command hunts (ingest + rules) live in detect.hunt_cli.
from detect.hunt_cli import hunt as _hunt  # noqa: E402

detect.add_command(_hunt)
