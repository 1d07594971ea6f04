"""Key files: list, add, remove (``tulou backup key ...``).

A repository's master key set never changes; each passphrase that opens it is one key file
(``keys/<SM3 of the file>``, docs/backup.md "key file"). Adding a passphrase wraps the same
master keys under a new passphrase-derived key; removing one deletes its key file; changing a
passphrase is both, in that order, so the repository is never left without a key that works.
Every site of a repository holds the same key files, so each change is made at every site
given, and the result names the sites where it could not be made (a removed passphrase still
opens such a site until it is removed there too).

Refused: removing the key file that opened the repository for this command (the passphrase
being used; change it with ``passwd``, or remove it with another passphrase), removing the
last key file, and a prefix that names no key or more than one.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from backup import lock
from backup.keys import wrap
from backup.repository import Repository
from backup.targets.base import Target
from crypto import sm3
from tulou.errors import NotFoundError, TulouError, UsageError


@dataclass
class SiteChanges:
    """Per site name: what was done, or why it could not be."""

    done: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def describe(target: Target, name: str) -> dict[str, Any]:
    """The public fields of one key file (nothing secret is in them)."""
    try:
        document = json.loads(target.load("keys", name))
        return {
            "id": name,
            "created": str(document.get("created", "")),
            "hostname": str(document.get("hostname", "")),
            "kdf": str(document["kdf"]["name"]),
            "iterations": int(document["kdf"]["iterations"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        return {"id": name, "problem": f"not a key file: {exc}"}


def list_keys(repo: Repository, sites: dict[str, Target]) -> list[dict[str, Any]]:
    """Every key file at any of ``sites``, with the sites holding it; ``current`` marks the one
    that opened ``repo``. A key file missing at some site is visible in its ``sites``."""
    holders: dict[str, list[str]] = {}
    for site, target in sites.items():
        with contextlib.suppress(TulouError):  # an unreachable site holds nothing we can see
            for info in target.list("keys"):
                holders.setdefault(info.name, []).append(site)
    rows = [
        {**describe(sites[where[0]], name), "current": name == repo.key_name, "sites": where}
        for name, where in holders.items()
    ]
    return sorted(rows, key=lambda r: (r.get("created", ""), r["id"]))


def add_key(
    repo: Repository, sites: dict[str, Target], passphrase: str, *, iterations: int | None = None
) -> tuple[str, SiteChanges]:
    """Wrap the master keys under ``passphrase``; store the key file at every site."""
    document = wrap(repo.keys, passphrase, **({"iterations": iterations} if iterations else {}))
    name = sm3.sm3(document).hex()
    changes = SiteChanges()
    for site, target in sites.items():
        try:
            with lock.acquire(target, exclusive=False):
                target.save("keys", name, document)
            changes.done[site] = "added"
        except TulouError as exc:
            changes.failed[site] = str(exc)
    return name, changes


def resolve(repo: Repository, prefix: str) -> str:
    names = [i.name for i in repo.target.list("keys") if i.name.startswith(prefix)]
    if not names:
        raise NotFoundError(f"no key file {prefix!r} at {repo.target.location}")
    if len(names) > 1:
        raise UsageError(f"key id prefix {prefix!r} is ambiguous ({len(names)} keys)")
    return names[0]


def remove_key(repo: Repository, sites: dict[str, Target], prefix: str) -> tuple[str, SiteChanges]:
    """Delete one key file (not the one in use, not the last one) at every site."""
    name = resolve(repo, prefix)
    if name == repo.key_name:
        raise UsageError(
            "that is the key file of the passphrase in use: change it with `key passwd`, or "
            "remove it while opening the repository with another passphrase"
        )
    if len(list(repo.target.list("keys"))) < 2:  # pragma: no cover - the current one remains
        raise UsageError("refusing to remove the last key file")
    changes = SiteChanges()
    for site, target in sites.items():
        try:
            with lock.acquire(target, exclusive=True):
                try:
                    target.remove("keys", name)
                    changes.done[site] = "removed"
                except NotFoundError:
                    changes.done[site] = "not there"
        except TulouError as exc:
            changes.failed[site] = str(exc)
    return name, changes


def change_passphrase(
    repo: Repository, sites: dict[str, Target], passphrase: str, *, iterations: int | None = None
) -> tuple[str, str, SiteChanges]:
    """Add a key file for ``passphrase``, then remove the one in use where the add worked."""
    new, added = add_key(repo, sites, passphrase, iterations=iterations)
    old = repo.key_name
    changes = SiteChanges(failed=dict(added.failed))
    for site in added.done:
        target = sites[site]
        try:
            with lock.acquire(target, exclusive=True), contextlib.suppress(NotFoundError):
                target.remove("keys", old)
            changes.done[site] = "changed"
        except TulouError as exc:
            changes.failed[site] = f"new passphrase added, old one NOT removed: {exc}"
    return new, old, changes
