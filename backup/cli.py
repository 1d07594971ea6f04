"""The ``tulou backup`` and ``tulou drill`` command groups.

Sites and sources come from a policy file (``--policy``, or ``TULOU_BACKUP_POLICY``), or a
single site from ``--repo URL``. The passphrase is read from the environment variable the
policy names (default ``TULOU_BACKUP_PASSPHRASE``) or prompted for; never from argv.
"""

from __future__ import annotations

from pathlib import Path

import click

from backup import service, site_status
from backup.cli_options import (
    load_policy,
    no_lock_option,
    passphrase,
    progress_bar,
    site_options,
)
from backup.drill_cli import drill
from backup.filters import Filters, parse_size, read_exclude_file
from backup.key_cli import key
from backup.tree import display
from tulou.allocator import keep_large_buffers
from tulou.clikit import app, emit, json_option
from tulou.errors import InputError, TulouError, UsageError, VerificationError

__all__ = ["backup", "drill"]


@click.group()
def backup() -> None:
    """Encrypted, deduplicated, multi-site backups (SM3 ids, SM4-GCM, SM2-signed snapshots)."""
    keep_large_buffers()


backup.add_command(key)


@backup.command()
@site_options
@click.option("--kdf-iterations", type=click.IntRange(1000), default=None, hidden=True)
@json_option
def init(
    policy_file: Path | None, repo: str | None, site_name: str | None, kdf_iterations: int | None
) -> None:
    """Create the repository at every site of the policy."""
    policy = load_policy(policy_file, repo)
    result = service.init(policy, passphrase(policy, confirm=True), kdf_iterations=kdf_iterations)
    emit(
        result,
        f"created repository {result['repository'][:16]} at "
        f"{', '.join(result['sites'])}\nsigning key fingerprint (pin it in the policy): "
        f"{result['signing_key_fingerprint']}",
    )


@backup.command()
@site_options
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Tag the snapshot (repeatable).")
@click.option(
    "--exclude",
    "-e",
    "excludes",
    multiple=True,
    metavar="PATTERN",
    help="Leave out paths matching PATTERN (repeatable; '!PATTERN' re-includes; "
    "see docs/backup.md 'Include and exclude').",
)
@click.option(
    "--exclude-file",
    "exclude_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read exclude patterns from FILE, one per line, # comments (repeatable).",
)
@click.option(
    "--exclude-caches",
    is_flag=True,
    help="Leave out the contents of directories tagged with a CACHEDIR.TAG file.",
)
@click.option(
    "--exclude-larger-than",
    metavar="SIZE",
    help="Leave out files larger than SIZE (bytes, or with k, M, G, T).",
)
@json_option
def run(  # noqa: PLR0917 - click passes options positionally
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    paths: tuple[Path, ...],
    tags: tuple[str, ...],
    excludes: tuple[str, ...],
    exclude_files: tuple[Path, ...],
    exclude_caches: bool,
    exclude_larger_than: str | None,
) -> None:
    """Back up the policy's sources (and PATHS) to the first site, then copy to the others.

    Exit 0 when every entry was backed up; 4 when the snapshot was saved but some entries
    could not be read (they are listed); other codes as for every command.
    """
    policy = load_policy(policy_file, repo)
    patterns = list(excludes)
    for name in exclude_files:
        patterns += read_exclude_file(name)
    filters = Filters(
        tuple(patterns),
        exclude_caches,
        parse_size(exclude_larger_than) if exclude_larger_than else None,
    )
    with progress_bar("backup") as tick:
        result = service.run(
            policy,
            passphrase(policy),
            paths=[p.absolute() for p in paths],
            tags=list(tags),
            progress=tick,
            filters=filters,
        )
    site_status.after_run(app().settings.data_dir, result)
    s = result["summary"]
    human = (
        f"snapshot {result['snapshot'][:16]} saved at {result['site']}: "
        f"{s['files']} files, {s['dirs']} directories, {s['special_files']} special files, "
        f"{s['bytes']} bytes, {result['new_bytes']} new, {result['stored_bytes']} stored\n"
        + "".join(f"  {k}: {v}\n" for k, v in result["sites"].items())
        + _not_backed_up(s, result["warnings"])
    ).rstrip("\n")
    if s["errors"]:
        # The snapshot holds everything else, but a scheduled run must not look clean.
        if not app().json_output:
            click.echo(human)
        raise InputError(
            f"snapshot {result['snapshot'][:16]} saved, but {s['errors']} entries could not "
            "be backed up: " + "; ".join(result["warnings"][:10])
        )
    emit(result, human)


def _not_backed_up(summary: dict[str, int], warnings: list[str]) -> str:
    """What the snapshot does not hold (or holds only as read), for the text output."""
    counts = [
        f"{summary[key]} {label}"
        for key, label in (
            ("excluded", "excluded by the filters"),
            ("vanished", "vanished during the run"),
            ("changed_while_read", "changed while read (stored as read)"),
            ("errors", "could not be read (NOT in the snapshot)"),
        )
        if summary.get(key)
    ]
    if not counts and not warnings:
        return ""
    shown = warnings[:50]
    more = (
        f"\n  ... and {len(warnings) - len(shown)} more (--json lists them all)"
        if len(warnings) > len(shown)
        else ""
    )
    return (
        "not backed up, or not as it is now: "
        + ", ".join(counts or ["see below"])
        + "\n"
        + "".join(f"  {w}\n" for w in shown)
        + more
    )


@backup.command()
@site_options
@click.option("--no-key", is_flag=True, help="Verify signatures with the public key only.")
@json_option
def snapshots(
    policy_file: Path | None, repo: str | None, site_name: str | None, no_key: bool
) -> None:
    """List snapshots (every SM2 signature is verified)."""
    policy = load_policy(policy_file, repo)
    site = policy.site(site_name) if site_name else policy.sites[0]
    rows = service.snapshots(policy, site, None if no_key else passphrase(policy))
    emit(
        rows,
        "\n".join(f"{r['id'][:16]}  {r['time']}  {' '.join(r.get('sources', []))}" for r in rows)
        or "no snapshots",
    )


@backup.command()
@site_options
@click.option("--read-data", is_flag=True, help="Read and verify every byte of every pack.")
@no_lock_option
@json_option
def verify(
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    read_data: bool,
    no_lock: bool,
) -> None:
    """Check the repository at a site; exit 5 if anything is damaged."""
    policy = load_policy(policy_file, repo)
    site = policy.site(site_name) if site_name else policy.sites[0]
    secret = passphrase(policy)
    data_dir = app().settings.data_dir
    try:
        with progress_bar("verify") as tick:
            result = service.verify(
                policy, site, secret, read_data=read_data, progress=tick, no_lock=no_lock
            )
    except TulouError:
        # A site whose repository cannot even be opened has failed its verification.
        site_status.after_failed_verify(data_dir, site.name, read_data=read_data)
        raise
    site_status.after_verify(data_dir, result)
    human = (
        f"{site.name}: {result['snapshots']} snapshots, {result['trees']} trees, "
        f"{result['blobs']} blob refs, {result['packs_read']} packs read: "
        + ("ok" if result["ok"] else "DAMAGED\n  " + "\n  ".join(result["errors"]))
    )
    if not result["ok"]:
        # One JSON document: under --json the error document (with every problem) is it.
        if not app().json_output:
            click.echo(human)
        raise VerificationError(
            f"{len(result['errors'])} problem(s) at site {site.name}: "
            + "; ".join(result["errors"][:20])
            + f"; damaged packs: {', '.join(result['damaged_packs']) or 'none'}"
        )
    emit(result, human)


@backup.command()
@site_options
@click.argument("snapshot")
@click.option(
    "--target",
    "dest",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Empty directory to restore into.",
)
@click.option("--include", help="Restore only this path (e.g. a source name).")
@no_lock_option
@json_option
def restore(  # noqa: PLR0917 - click passes options positionally
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    snapshot: str,
    dest: Path,
    include: str | None,
    no_lock: bool,
) -> None:
    """Restore SNAPSHOT (an id prefix or 'latest'), verifying every blob."""
    policy = load_policy(policy_file, repo)
    site = policy.site(site_name) if site_name else policy.sites[0]
    with progress_bar("restore") as tick:
        result = service.restore(
            policy,
            site,
            passphrase(policy),
            snapshot=snapshot,
            dest=dest,
            include=include,
            progress=tick,
            no_lock=no_lock,
        )
    skipped = result["skipped"]
    emit(
        result,
        f"restored {result['files']} files ({result['bytes']} bytes), "
        f"{result['hard_links']} hard links and {result['special_files']} special files of "
        f"snapshot {result['snapshot'][:16]} into {display(str(dest))}; "
        f"{result['blobs_verified']} blobs verified"
        + (f"\nnot restored ({len(skipped)}):\n  " + "\n  ".join(skipped) if skipped else ""),
    )


@backup.command()
@site_options
@click.option("--from", "src", required=True, help="Source site name.")
@click.option("--to", "dst", required=True, help="Destination site name.")
@click.argument("snapshot_ids", nargs=-1)
@no_lock_option
@json_option
def copy(  # noqa: PLR0917 - click passes options positionally
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    src: str,
    dst: str,
    snapshot_ids: tuple[str, ...],
    no_lock: bool,
) -> None:
    """Copy snapshots (default: all) and their data from one site to another."""
    policy = load_policy(policy_file, repo)
    with progress_bar("copy") as tick:
        result = service.copy(
            policy,
            policy.site(src),
            policy.site(dst),
            passphrase(policy),
            snapshot_ids=list(snapshot_ids) or None,
            progress=tick,
            no_lock=no_lock,
        )
    emit(
        result,
        f"copied {result['snapshots']} snapshots, {result['packs']} packs "
        f"({result['bytes']} bytes) from {src} to {dst}",
    )


@backup.command()
@site_options
@click.option("--keep-last", type=click.IntRange(0), default=0)
@click.option("--keep-hourly", type=click.IntRange(0), default=0)
@click.option("--keep-daily", type=click.IntRange(0), default=0)
@click.option("--keep-weekly", type=click.IntRange(0), default=0)
@click.option("--keep-monthly", type=click.IntRange(0), default=0)
@click.option("--keep-yearly", type=click.IntRange(0), default=0)
@click.option("--prune", "prune_after", is_flag=True, help="Prune afterwards.")
@click.option("--dry-run", is_flag=True)
@json_option
def forget(  # noqa: PLR0917 - click passes options positionally
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    keep_last: int,
    keep_hourly: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    keep_yearly: int,
    prune_after: bool,
    dry_run: bool,
) -> None:
    """Remove snapshots outside the retention policy (refused on append-only sites)."""
    policy = load_policy(policy_file, repo)
    site = policy.site(site_name) if site_name else policy.sites[0]
    keep = {
        "hourly": keep_hourly,
        "daily": keep_daily,
        "weekly": keep_weekly,
        "monthly": keep_monthly,
        "yearly": keep_yearly,
    }
    if not keep_last and not any(keep.values()):
        raise UsageError("give at least one --keep-* option")
    result = service.forget(
        policy,
        site,
        passphrase(policy),
        keep_last=keep_last,
        keep=keep,
        dry_run=dry_run,
        prune_after=prune_after,
    )
    emit(
        result,
        f"{'would remove' if dry_run else 'removed'} {len(result['removed'])}, "
        f"kept {len(result['kept'])} snapshots at {site.name}",
    )


@backup.command()
@site_options
@click.option("--dry-run", is_flag=True)
@json_option
def prune(policy_file: Path | None, repo: str | None, site_name: str | None, dry_run: bool) -> None:
    """Delete data no snapshot references (exclusive lock; refused on append-only sites)."""
    policy = load_policy(policy_file, repo)
    site = policy.site(site_name) if site_name else policy.sites[0]
    result = service.prune(policy, site, passphrase(policy), dry_run=dry_run)
    emit(
        result,
        f"{site.name}: {result['packs_deleted']} packs deleted, "
        f"{result['packs_written']} written, {result['bytes_freed']} bytes freed",
    )


@backup.command()
@site_options
@click.option("--from", "src", help="The healthy site to copy good files from.")
@click.option(
    "--index",
    "rebuild_index",
    is_flag=True,
    help="Rebuild the index of --site (default: the first) from its packs' sealed headers.",
)
@json_option
def repair(
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    src: str | None,
    rebuild_index: bool,
) -> None:
    """Repair a site: replace damaged packs from another site (--site B --from A), or rebuild
    a damaged or lost index from the packs themselves (--index).

    Exit 0 when the site verifies afterwards, 5 when something is still missing.
    """
    policy = load_policy(policy_file, repo)
    if rebuild_index:
        if src:
            raise UsageError("--index rebuilds from the site itself: give it without --from")
        site = policy.site(site_name) if site_name else policy.sites[0]
        with progress_bar("repair --index") as tick:
            result = service.repair_index(policy, site, passphrase(policy), progress=tick)
        human = (
            f"{site.name}: index rebuilt from {result['packs']} packs ({result['blobs']} "
            f"blobs), {len(result['index_files_superseded'])} old index file(s) superseded, "
            f"{result['index_files_removed']} removed"
        )
        problems = [*result["unreadable_packs"], *result["errors"]]
        if problems:
            if not app().json_output:
                click.echo(human)
            raise VerificationError(
                f"{len(problems)} problem(s) remain at {site.name}: " + "; ".join(problems[:10])
            )
        emit(result, human)
        return
    if not site_name or not src:
        raise UsageError("give --site (the damaged site) and --from (a healthy one), or --index")
    result = service.repair(policy, policy.site(site_name), policy.site(src), passphrase(policy))
    emit(result, f"{site_name}: repaired {len(result['repaired'])} file(s) from {src}")


@backup.command()
@site_options
@click.option("--all", "all_locks", is_flag=True, help="Remove every lock, not only stale ones.")
@json_option
def unlock(
    policy_file: Path | None, repo: str | None, site_name: str | None, all_locks: bool
) -> None:
    """Remove stale locks left by crashed processes."""
    from backup import lock  # noqa: PLC0415

    policy = load_policy(policy_file, repo)
    site = policy.site(site_name) if site_name else policy.sites[0]
    target = service.open_site(site)
    try:
        removed = lock.unlock(target, all_locks=all_locks)
    finally:
        target.close()
    emit({"site": site.name, "removed": removed}, f"removed {removed} lock(s)")
