"""``tulou rules check|convert|list`` and ``tulou detect run|watch`` (attached by detect.cli).

Heavy imports (pySigma, stores) happen inside the commands so ``tulou --help`` stays fast.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from tulou.clikit import app, emit, json_option
from tulou.errors import InputError, UsageError
from tulou.events import format_timestamp, parse_timestamp

TARGETS = ("sqlite", "elasticsearch")
_DEFAULT_RULES = Path(__file__).resolve().parents[1] / "rules"


def _pipeline(pipelines: Path | None) -> Any:
    from detect.rules.pipelines import combined, load_pipelines  # noqa: PLC0415

    return combined(load_pipelines(pipelines).values())


def _backend(target: str, pipeline: Any) -> Any:
    from detect.rules.es_backend import EsDslBackend  # noqa: PLC0415
    from detect.rules.sqlite_backend import TulouSqliteBackend  # noqa: PLC0415

    if target == "sqlite":
        return lambda: TulouSqliteBackend(pipeline)
    if target == "elasticsearch":
        return lambda: EsDslBackend(pipeline)
    if target == "lucene":
        from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend  # noqa: PLC0415

        return lambda: LuceneBackend(pipeline)
    raise UsageError(f"unknown target {target!r}")


def _load(paths: tuple[Path, ...]) -> Any:
    from detect.rules.loader import load_rules  # noqa: PLC0415

    return load_rules(list(paths) or [_DEFAULT_RULES])


_pipelines_option = click.option(
    "--pipelines",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Directory of processing pipelines (default: rules/pipelines).",
)


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_pipelines_option
@click.option("--strict", is_flag=True, help="Exit 4 on warnings too (unsupported log sources).")
@json_option
def check(paths: tuple[Path, ...], pipelines: Path | None, strict: bool) -> None:
    """Validate rules and convert them for every store; print a per-store summary.

    Exits 4 when a rule is invalid or fails to convert for a store (problems name file:line).
    """
    from detect.rules.compile import compile_rules  # noqa: PLC0415

    ruleset = _load(paths)
    pipeline = _pipeline(pipelines)
    stores: dict[str, Any] = {}
    problems = [p.to_dict() for p in ruleset.problems]
    for target in TARGETS:
        compilation = compile_rules(ruleset, target, _backend(target, pipeline))
        unsupported = [p for p in compilation.problems if p.severity == "warning"]
        failed = [p for p in compilation.problems if p.severity == "error"]
        stores[target] = {
            "converted": len(compilation.rules) + len(compilation.correlations),
            "correlations": len(compilation.correlations),
            "unsupported_logsource": len(unsupported),
            "failed": len(failed),
        }
        problems.extend(p.to_dict() for p in compilation.problems)
    report = {
        "rules": len(ruleset.rules),
        "invalid": len(ruleset.problems),
        "stores": stores,
        "problems": problems,
    }

    def human() -> None:
        click.echo(f"{len(ruleset.rules)} rules loaded, {len(ruleset.problems)} invalid")
        click.echo(f"{'store':15} {'converted':>9} {'correl.':>8} {'unsupp.':>8} {'failed':>7}")
        for name, row in stores.items():
            click.echo(
                f"{name:15} {row['converted']:9} {row['correlations']:8} "
                f"{row['unsupported_logsource']:8} {row['failed']:7}"
            )
        for problem in problems:
            click.echo(f"{problem['location']}: {problem['severity']}: {problem['reason']}")

    emit(report, human)
    bad = [p for p in problems if p["severity"] == "error" or strict]
    if bad:
        # The report above is the one output (also under --json), so no error document: exit
        # 4 (input error) directly. tulou.cli.main drops click's Exit codes, hence SystemExit.
        click.echo(f"tulou: {len(bad)} rule problem(s)", err=True)
        raise SystemExit(InputError.exit_code)


@click.command("convert")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--target",
    type=click.Choice([*TARGETS, "lucene"]),
    default="sqlite",
    show_default=True,
    help="sqlite: WHERE condition; elasticsearch: Query DSL; lucene: query_string text.",
)
@_pipelines_option
@json_option
def convert(paths: tuple[Path, ...], target: str, pipelines: Path | None) -> None:
    """Print each rule's query for a store (correlations run in Python: listed, not compiled)."""
    from detect.rules.compile import compile_rules  # noqa: PLC0415

    ruleset = _load(paths)
    compilation = compile_rules(ruleset, target, _backend(target, _pipeline(pipelines)))
    out = {
        rule_id: {"title": c.rule.title, "queries": list(c.queries)}
        for rule_id, c in compilation.rules.items()
    }
    for rule_id, (loaded, spec) in compilation.correlations.items():
        out[rule_id] = {"title": loaded.title, "correlation": spec.type, "rules": spec.rules}
    problems = [p.to_dict() for p in [*ruleset.problems, *compilation.problems]]

    def human() -> None:
        for rule_id, item in out.items():
            click.echo(f"# {rule_id} {item['title']}")
            for query in item.get("queries", []):
                click.echo(query if isinstance(query, str) else json.dumps(query))
            if "correlation" in item:
                click.echo(f"correlation {item['correlation']} over {', '.join(item['rules'])}")
        for problem in problems:
            click.echo(f"{problem['location']}: {problem['reason']}", err=True)

    emit({"target": target, "rules": out, "problems": problems}, human)


@click.command("list")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@json_option
def list_rules(paths: tuple[Path, ...]) -> None:
    """List rules: id, level, title, log source, file."""
    ruleset = _load(paths)
    rows = [
        {
            "id": r.rule_id,
            "level": r.level,
            "title": r.title,
            "kind": r.data["correlation"]["type"] if r.is_correlation else "rule",
            "logsource": r.logsource,
            "location": r.location,
            "hash": r.content_hash,
        }
        for r in ruleset.rules
    ]

    def human() -> None:
        for row in rows:
            click.echo(f"{row['id']}  {row['level']:13} {row['kind']:16} {row['title']}")

    emit({"rules": rows, "problems": [p.to_dict() for p in ruleset.problems]}, human)


# -- detect run / watch -------------------------------------------------------------------------


def _target(store: str | None, pipeline: Any) -> Any:
    from detect.cli_store import open_cli_store, store_url  # noqa: PLC0415
    from detect.rules.targets import target_for  # noqa: PLC0415

    return target_for(store_url(store), open_cli_store(store), pipeline)


def _sink(url: str | None) -> Any:
    import os  # noqa: PLC0415

    from detect.alerts import open_sink  # noqa: PLC0415

    settings = app().settings
    url = url or f"sqlite://{settings.path('detect', 'alerts.db').resolve()}"
    return open_sink(url, os.environ.get("TULOU_SOC_TOKEN"))


def _compiled(paths: tuple[Path, ...], target: Any, pipelines: Path | None = None) -> Any:
    from detect.rules.compile import compile_rules  # noqa: PLC0415
    from detect.rules.compile_cache import CompileCache, code_key  # noqa: PLC0415
    from detect.rules.loader import LoadCache, load_rules  # noqa: PLC0415
    from detect.rules.pipelines import default_pipeline_dir  # noqa: PLC0415
    from tulou.clikit import warn  # noqa: PLC0415

    cache_dir = app().settings.path("detect", "rule-cache")
    loads = LoadCache(cache_dir)
    ruleset = load_rules(list(paths) or [_DEFAULT_RULES], loads)
    loads.save()
    cache = CompileCache(
        cache_dir,
        code_key(target.name, pipelines or default_pipeline_dir()),
    )
    compilation = compile_rules(ruleset, target.name, target.backend, cache)
    cache.save()
    errors = [p for p in [*ruleset.problems, *compilation.problems] if p.severity == "error"]
    for problem in errors:
        warn(f"{problem.location}: {problem.reason} (rule skipped)")
    return compilation


def _moment(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise UsageError(f"not an ISO 8601 time: {text!r}") from exc


_common = [
    click.option(
        "--rules",
        "rule_paths",
        multiple=True,
        type=click.Path(exists=True, path_type=Path),
        help="Rule files or directories (default: rules/). Repeatable.",
    ),
    click.option("--store", help="Event store URL (default: settings; SQLite under the data dir)."),
    click.option("--sink", help="Alert sink URL: sqlite:///alerts.db (default), http(s)://soc."),
]


def _with_common(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


@click.command("run")
@click.option("--since", help="Start (inclusive, ISO 8601). Default: 24 hours ago.")
@click.option("--until", help="End (exclusive, ISO 8601). Default: now.")
@_with_common
@json_option
def run(
    since: str | None,
    until: str | None,
    rule_paths: tuple[Path, ...],
    store: str | None,
    sink: str | None,
) -> None:
    """Evaluate the rules once over a time range and deliver the alerts."""
    from detect.rules.watch import run_range  # noqa: PLC0415

    now = datetime.now(UTC)
    end = _moment(until, now)
    start = _moment(since, end - timedelta(days=1))
    target = _target(store, _pipeline(None))
    compilation = _compiled(rule_paths, target)
    destination = _sink(sink)
    try:
        step = run_range(compilation, target, destination, start, end)
    finally:
        destination.close()
    summary = step.summary()
    alerts = [a.to_dict() for a in step.run.alerts]
    emit(
        {**summary, "alerts": alerts},
        f"{summary['alerts']} alerts ({summary['delivered']} new) from {summary['rules_run']} "
        f"rules run, {summary['rules_skipped']} skipped, {format_timestamp(start)} .. "
        f"{format_timestamp(end)}",
    )


@click.command("watch")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between runs.")
@click.option("--lookback", default=300.0, show_default=True, help="Seconds re-read each run.")
@click.option("--since", help="Where to start without a checkpoint (default: --lookback ago).")
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Checkpoint file (default: <data>/detect/watch.json).",
)
@click.option("--iterations", type=int, help="Stop after this many runs (default: forever).")
@_with_common
@json_option
def watch(  # noqa: PLR0917 - click passes options positionally
    interval: float,
    lookback: float,
    since: str | None,
    checkpoint: Path | None,
    iterations: int | None,
    rule_paths: tuple[Path, ...],
    store: str | None,
    sink: str | None,
) -> None:
    """Evaluate continuously with a persisted checkpoint and a duplicate-free lookback."""
    from detect.rules.watch import watch_step  # noqa: PLC0415

    target = _target(store, _pipeline(None))
    compilation = _compiled(rule_paths, target)
    destination = _sink(sink)
    path = checkpoint or app().settings.path("detect", "watch.json")
    steps: list[dict[str, Any]] = []
    done = 0
    try:
        while iterations is None or done < iterations:
            now = datetime.now(UTC)
            step = watch_step(
                compilation,
                target,
                destination,
                checkpoint_path=path,
                now=now,
                lookback=timedelta(seconds=lookback),
                first_start=_moment(since, now - timedelta(seconds=lookback)),
            )
            steps.append(step.summary())
            if not app().json_output:
                click.echo(json.dumps(step.summary()))
            done += 1
            if iterations is None or done < iterations:
                time.sleep(interval)
    finally:
        destination.close()
    if app().json_output:
        emit({"runs": steps})


def register(detect: click.Group, rules: click.Group) -> None:
    """Attach the rule commands to the ``detect`` and ``rules`` groups."""
    for command in (check, convert, list_rules):
        rules.add_command(command)
    detect.add_command(run)
    detect.add_command(watch)
