"""The operations behind ``tulou backup ...`` and the drills, on a :class:`Policy`.

Each operation opens the site(s) it needs, takes the right lock, and returns a plain dict (what
``--json`` prints). Progress is reported through an optional callback.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backup import checker, index_repair, lock, maintenance, sync
from backup.archiver import Archiver
from backup.filters import Filters
from backup.keys import now_iso
from backup.pack import pack_name
from backup.policy import Policy, Site
from backup.repository import Repository, check_pinned, list_snapshots, read_config
from backup.restorer import Restorer
from backup.sources import Source, prepare
from backup.targets import Target, open_target
from backup.targets.appendonly import AppendOnlyTarget
from tulou.errors import (
    NotFoundError,
    TulouError,
    UnavailableError,
    UsageError,
    VerificationError,
)

type Progress = Callable[[int], None]

PROGRAM = "tulou-backup/1"


def open_site(site: Site) -> Target:
    target = open_target(site.url, site.options)
    return AppendOnlyTarget(target) if site.append_only else target


@contextlib.contextmanager
def opened(
    policy: Policy, site: Site, passphrase: str, *, index: bool = True
) -> Iterator[Repository]:
    target = open_site(site)
    try:
        repo = Repository.open(target, passphrase, index=index)
        check_pinned(repo.config, policy.signing_key_fingerprint)
        yield repo
    finally:
        target.close()


def signing_fingerprint(policy: Policy) -> tuple[str, str]:
    """The fingerprint drill records and snapshots must be signed with, and where it came
    from: the policy's pin, else the repository's own config (its public key, read without a
    passphrase from the first site that holds one; pin it to defend against a replaced
    config, see "Threat model")."""
    if policy.signing_key_fingerprint:
        return policy.signing_key_fingerprint, "policy"
    problems = []
    for site in policy.sites:
        try:
            target = open_site(site)
            try:
                config, _ = read_config(target)
            finally:
                target.close()
        except TulouError as exc:
            problems.append(f"{site.name}: {exc}")
            continue
        return config.public_key.fingerprint(), f"repository at {site.name}"
    raise UnavailableError(
        "no site of the policy holds the repository, so its signing key is unknown: "
        + "; ".join(problems)
    )


def _shared_lock(target: Target, no_lock: bool) -> contextlib.AbstractContextManager[object]:
    """A shared lock, or none for ``--no-lock`` (reads from read-only, WORM media).

    Without a lock a concurrent prune at that site could delete what is being read; the reads
    stay authenticated, so that shows as a failed restore or verify, never as wrong data.
    """
    return contextlib.nullcontext() if no_lock else lock.acquire(target, exclusive=False)


def init(policy: Policy, passphrase: str, *, kdf_iterations: int | None = None) -> dict[str, Any]:
    """Create the repository at the first site and make every other site a copy of it."""
    first = open_site(policy.sites[0])
    try:
        _ensure_bucket(first)
        repo = Repository.init(first, passphrase, kdf_iterations=kdf_iterations)
        result: dict[str, Any] = {
            "repository": repo.config.repo_id,
            "signing_key_fingerprint": repo.config.public_key.fingerprint(),
        }
        sites: dict[str, str] = {policy.sites[0].name: "created"}
        result["sites"] = sites
        for site in policy.sites[1:]:
            target = open_site(site)
            try:
                _ensure_bucket(target)
                sync.init_site(repo, target)
                sites[site.name] = "created"
            finally:
                target.close()
        return result
    finally:
        first.close()


def _ensure_bucket(target: Target) -> None:
    inner = getattr(target, "inner", target)
    if hasattr(inner, "ensure_bucket"):
        inner.ensure_bucket()


def run(
    policy: Policy,
    passphrase: str,
    *,
    paths: list[Path] | None = None,
    tags: list[str] | None = None,
    progress: Progress | None = None,
    hook: Callable[[Repository], None] | None = None,
    filters: Filters | None = None,
) -> dict[str, Any]:
    """Back up every source to the first reachable site, then copy to the other sites.

    ``filters`` (from the command line) add to the policy's ``[filters]``; both apply to the
    ``path`` sources and to ``paths``.
    """
    sources = list(policy.sources) + [
        Source(p.name or "root", "path", {"path": str(p)}) for p in paths or []
    ]
    if not sources:
        raise UsageError("nothing to back up: give paths or add [[sources]] to the policy")
    failures: dict[str, str] = {}
    for position, site in enumerate(policy.sites):
        try:
            target = open_site(site)
        except UnavailableError as exc:
            failures[site.name] = str(exc)
            continue
        try:
            # A site whose repository is gone (lost disk, unmounted share) fails over like an
            # unreachable one; which other failure of it moves on is decided below.
            read_config(target)
        except (NotFoundError, UnavailableError) as exc:
            failures[site.name] = str(exc)
            target.close()
            continue
        try:
            result = _run_at(
                policy,
                site,
                target=target,
                passphrase=passphrase,
                sources=sources,
                tags=tags or [],
                progress=progress,
                hook=hook,
                filters=policy.filters.merged(filters or Filters()),
            )
        except UnavailableError as exc:
            failures[site.name] = str(exc)
            target.close()
            continue
        target.close()
        result["sites"] = {
            s.name: f"unavailable: {e}"
            for s, e in ((policy.site(n), e) for n, e in failures.items())
        }
        result["sites"][site.name] = "written"
        for other in policy.sites[position + 1 :]:
            try:
                copied = copy(policy, site, other, passphrase, snapshot_ids=[result["snapshot"]])
                result["sites"][other.name] = f"copied ({copied['packs']} packs)"
            except TulouError as exc:
                result["sites"][other.name] = f"failed: {exc}"
        return result
    raise UnavailableError(f"no site could be written: {failures}")


def _run_at(
    policy: Policy,
    site: Site,
    *,
    target: Target,
    passphrase: str,
    sources: list[Source],
    tags: list[str],
    progress: Progress | None,
    hook: Callable[[Repository], None] | None,
    filters: Filters,
) -> dict[str, Any]:
    repo = Repository.open(target, passphrase)
    check_pinned(repo.config, policy.signing_key_fingerprint)
    if hook is not None:
        hook(repo)
    started = now_iso()
    with (
        lock.acquire(target, exclusive=False),
        tempfile.TemporaryDirectory(prefix="tulou-backup-") as staging,
    ):
        parent = _latest(repo)
        parent_tree = repo.snapshot_body(parent)["tree"] if parent else None
        tag = started.replace(":", "").replace("-", "").replace(".", "")[:21]
        prepared = [prepare(s, Path(staging), tag) for s in sources]
        archiver = Archiver(repo, (lambda n, _f: progress(n)) if progress else None, filters)
        root = archiver.archive_root(
            [(p.name, p.path) for p in prepared],
            parent_tree,
            filtered={s.name for s in sources if s.kind == "path"},
        )
        body = {
            "program": PROGRAM,
            "hostname": socket.gethostname(),
            "started": started,
            "tree": root,
            "parent": parent.snapshot_id if parent else None,
            "tags": tags,
            "sources": {p.name: p.meta for p in prepared},
            "summary": archiver.summary(),
            "warnings": archiver.warnings,
            "filters": filters.to_dict(),
        }
        snapshot_id = repo.save_snapshot(body)
    return {
        "snapshot": snapshot_id,
        "site": site.name,
        "time": started,
        "parent": body["parent"],
        "summary": body["summary"],
        "new_blobs": repo.stats.new_blobs,
        "new_bytes": repo.stats.new_bytes,
        "stored_bytes": repo.stats.stored_bytes,
        "packs": repo.stats.packs,
        "warnings": archiver.warnings,
    }


def _latest(repo: Repository) -> Any:
    headers = repo.snapshots()
    return headers[-1] if headers else None


def snapshots(policy: Policy, site: Site, passphrase: str | None) -> list[dict[str, Any]]:
    """Verified snapshot list. Without a passphrase only the public, signed header is shown."""
    target = open_site(site)
    try:
        if passphrase is None:
            config, _ = read_config(target)
            check_pinned(config, policy.signing_key_fingerprint)
            return [
                {"id": h.snapshot_id, "time": h.time, "signature": "ok"}
                for h in list_snapshots(target, config)
            ]
        repo = Repository.open(target, passphrase)
        check_pinned(repo.config, policy.signing_key_fingerprint)
        rows = []
        for header in repo.snapshots():
            body = repo.snapshot_body(header)
            rows.append(
                {
                    "id": header.snapshot_id,
                    "time": header.time,
                    "signature": "ok",
                    "hostname": body.get("hostname"),
                    "sources": sorted(body["sources"]),
                    "tags": body.get("tags", []),
                    "summary": body.get("summary", {}),
                }
            )
        return rows
    finally:
        target.close()


def restore(
    policy: Policy,
    site: Site,
    passphrase: str,
    *,
    snapshot: str,
    dest: Path,
    include: str | None = None,
    progress: Progress | None = None,
    no_lock: bool = False,
) -> dict[str, Any]:
    with opened(policy, site, passphrase) as repo, _shared_lock(repo.target, no_lock):
        header = repo.find_snapshot(snapshot)
        body = repo.snapshot_body(header)
        result = Restorer(repo, progress).restore(str(body["tree"]), dest, include)
        return {
            "snapshot": header.snapshot_id,
            "time": header.time,
            "site": site.name,
            "destination": str(dest),
            "files": result.files,
            "dirs": result.dirs,
            "bytes": result.bytes,
            "blobs_verified": result.blobs_verified,
            "hard_links": result.links,
            "special_files": result.specials,
            "skipped": result.skipped,
            "sources": body["sources"],
        }


def verify(
    policy: Policy,
    site: Site,
    passphrase: str,
    *,
    read_data: bool = False,
    progress: Progress | None = None,
    no_lock: bool = False,
) -> dict[str, Any]:
    with opened(policy, site, passphrase) as repo, _shared_lock(repo.target, no_lock):
        result = checker.check(repo, read_data=read_data, progress=progress)
    return {"site": site.name, "read_data": read_data, **result.to_dict()}


def copy(
    policy: Policy,
    src: Site,
    dst: Site,
    passphrase: str,
    *,
    snapshot_ids: list[str] | None = None,
    progress: Progress | None = None,
    no_lock: bool = False,
) -> dict[str, Any]:
    """Copy to ``dst``; ``no_lock`` reads ``src`` without a lock (``dst`` is always locked)."""
    with opened(policy, src, passphrase) as repo, _shared_lock(repo.target, no_lock):
        target = open_site(dst)
        try:
            config, _ = read_config(target)
            check_pinned(config, policy.signing_key_fingerprint)
            with lock.acquire(target, exclusive=False):
                result = sync.copy(repo, target, snapshot_ids, progress)
        finally:
            target.close()
    return {
        "from": src.name,
        "to": dst.name,
        "snapshots": result.snapshots,
        "packs": result.packs,
        "bytes": result.bytes,
        "already_there": result.skipped_snapshots,
    }


def forget(
    policy: Policy,
    site: Site,
    passphrase: str,
    *,
    keep_last: int = 0,
    keep: dict[str, int] | None = None,
    dry_run: bool = False,
    prune_after: bool = False,
) -> dict[str, Any]:
    if site.append_only and not dry_run:
        raise_append_only(site)
    with opened(policy, site, passphrase) as repo, lock.acquire(repo.target, exclusive=True):
        kept, gone = maintenance.select_forget(repo.snapshots(), keep_last, keep)
        if not dry_run:
            for header in gone:
                repo.target.remove("snapshots", header.snapshot_id)
        result: dict[str, Any] = {
            "site": site.name,
            "dry_run": dry_run,
            "kept": [h.snapshot_id for h in kept],
            "removed": [h.snapshot_id for h in gone],
        }
        if prune_after and not dry_run:
            result["prune"] = vars(maintenance.prune(repo))
    return result


def prune(policy: Policy, site: Site, passphrase: str, *, dry_run: bool = False) -> dict[str, Any]:
    if site.append_only and not dry_run:
        raise_append_only(site)
    with opened(policy, site, passphrase) as repo, lock.acquire(repo.target, exclusive=True):
        result = maintenance.prune(repo, dry_run=dry_run)
    return {"site": site.name, **vars(result)}


def raise_append_only(site: Site) -> None:
    from tulou.errors import PolicyDeniedError  # noqa: PLC0415

    raise PolicyDeniedError(f"site {site.name!r} is append-only: forget and prune are refused")


def repair_index(
    policy: Policy, site: Site, passphrase: str, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Rebuild the site's index from its packs' headers, then check the structure."""
    with (
        opened(policy, site, passphrase, index=False) as repo,
        lock.acquire(repo.target, exclusive=True),
    ):
        rebuilt = index_repair.rebuild(repo, remove_old=not site.append_only, progress=progress)
        checked = checker.check(repo)
    return {
        "site": site.name,
        **vars(rebuilt),
        "ok": not checked.errors and not rebuilt.unreadable_packs,
        "errors": checked.errors,
    }


def repair(policy: Policy, damaged: Site, healthy: Site, passphrase: str) -> dict[str, Any]:
    """Verify ``damaged`` fully and replace every damaged pack with ``healthy``'s copy."""
    before = verify(policy, damaged, passphrase, read_data=True)
    packs = list(before["damaged_packs"])
    if not packs:
        return {
            "site": damaged.name,
            "repaired": [],
            "failed": [],
            "ok": before["ok"],
            "errors_before": before["errors"],
        }
    bad, good = open_site(damaged), open_site(healthy)
    try:
        with lock.acquire(bad, exclusive=True):
            config, _ = read_config(good)
            result = sync.repair(
                bad, good, "data", packs, lambda data: pack_name(data, config.version)
            )
    finally:
        bad.close()
        good.close()
    after = verify(policy, damaged, passphrase, read_data=True)
    if not after["ok"]:
        raise VerificationError(
            f"site {damaged.name} still damaged after repair: {after['errors'][:3]}"
        )
    return {
        "site": damaged.name,
        "from": healthy.name,
        "repaired": result.repaired,
        "failed": result.failed,
        "ok": True,
        "errors_before": before["errors"],
    }
