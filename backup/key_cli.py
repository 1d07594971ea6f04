"""``tulou backup key list|add|passwd|remove``: the passphrases that open a repository.

The new passphrase is read from the environment variable ``--new-passphrase-env`` names
(default ``TULOU_BACKUP_NEW_PASSPHRASE``) or a hidden prompt with confirmation; never from the
command line. Changes are made at every site of the policy (``--site`` limits them to one).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from backup import keyring
from backup.cli_options import load_policy, passphrase, site_options
from backup.policy import Policy
from backup.repository import Repository, check_pinned, read_config
from backup.service import open_site
from backup.targets.base import Target
from tulou.clikit import emit, json_option
from tulou.errors import NotFoundError, UnavailableError, UsageError

F = Callable[..., Any]


@click.group()
def key() -> None:
    """List, add, change and remove the passphrases that open the repository."""


@contextlib.contextmanager
def _opened(
    policy: Policy, secret: str, site_name: str | None
) -> Iterator[tuple[Repository, dict[str, Target], dict[str, str]]]:
    """The repository at --site (default: the first), and every site to change."""
    chosen = [policy.site(site_name)] if site_name else list(policy.sites)
    targets: dict[str, Target] = {}
    unreachable: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for site in chosen:
            try:
                target = open_site(site)
            except UnavailableError as exc:
                unreachable[site.name] = str(exc)
                continue
            stack.callback(target.close)
            targets[site.name] = target
        repo: Repository | None = None
        for name, target in list(targets.items()):
            try:
                if repo is None:
                    repo = Repository.open(target, secret, index=False)
                    check_pinned(repo.config, policy.signing_key_fingerprint)
                elif read_config(target)[0].repo_id != repo.config.repo_id:
                    raise UsageError(f"{target.location} holds another repository")
            except (UnavailableError, NotFoundError, UsageError) as exc:
                unreachable[name] = str(exc)  # never given key files: reported as not changed
                del targets[name]
        if repo is None:
            raise UnavailableError(f"no site could be opened: {unreachable}")
        yield repo, targets, unreachable


def _new_passphrase(env: str) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if not os.isatty(0):
        raise UsageError(f"set {env} (the new passphrase)")
    return str(click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True))


def _report(changes: keyring.SiteChanges, unreachable: dict[str, str], what: str) -> None:
    failed = {**unreachable, **changes.failed}
    if failed:
        raise UnavailableError(
            f"{what} at {', '.join(changes.done) or 'no site'}; NOT at "
            + "; ".join(f"{site}: {why}" for site, why in failed.items())
            + " (run the command again when those sites are back)"
        )


def _common(func: F) -> F:
    return site_options(json_option(func))


def _policy(policy_file: Path | None, repo: str | None) -> tuple[Policy, str]:
    policy = load_policy(policy_file, repo)
    return policy, passphrase(policy)


@key.command("list")
@_common
def list_keys(policy_file: Path | None, repo: str | None, site_name: str | None) -> None:
    """List the key files (one per passphrase); * marks the one in use."""
    policy, secret = _policy(policy_file, repo)
    with _opened(policy, secret, site_name) as (opened, targets, _):
        rows = keyring.list_keys(opened, targets)
    emit(
        rows,
        "\n".join(
            f"{'*' if r['current'] else ' '} {r['id'][:16]}  {r.get('created', '?')}  "
            f"{r.get('hostname', '')}  sites: {', '.join(r['sites'])}"
            + (f"  ({r['problem']})" if "problem" in r else "")
            for r in rows
        ),
    )


def _new_options(func: F) -> F:
    func = click.option(
        "--new-passphrase-env",
        default="TULOU_BACKUP_NEW_PASSPHRASE",
        show_default=True,
        help="The variable holding the new passphrase (else a hidden prompt).",
    )(func)
    return click.option("--kdf-iterations", type=click.IntRange(1000), hidden=True)(func)


@key.command("add")
@_new_options
@_common
def add(
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    new_passphrase_env: str,
    kdf_iterations: int | None,
) -> None:
    """Add a passphrase (the old ones keep working)."""
    policy, secret = _policy(policy_file, repo)
    new = _new_passphrase(new_passphrase_env)
    with _opened(policy, secret, site_name) as (opened, targets, unreachable):
        name, changes = keyring.add_key(opened, targets, new, iterations=kdf_iterations)
    _report(changes, unreachable, f"key {name[:16]} added")
    emit({"id": name, "sites": changes.done}, f"added key {name[:16]} at {', '.join(changes.done)}")


@key.command("passwd")
@_new_options
@_common
def passwd(
    policy_file: Path | None,
    repo: str | None,
    site_name: str | None,
    new_passphrase_env: str,
    kdf_iterations: int | None,
) -> None:
    """Change the passphrase in use: add the new one, then remove the old one's key file."""
    policy, secret = _policy(policy_file, repo)
    new = _new_passphrase(new_passphrase_env)
    if new == secret:
        raise UsageError("the new passphrase is the one in use")
    with _opened(policy, secret, site_name) as (opened, targets, unreachable):
        name, old, changes = keyring.change_passphrase(
            opened, targets, new, iterations=kdf_iterations
        )
    _report(changes, unreachable, "passphrase changed")
    emit(
        {"id": name, "removed": old, "sites": changes.done},
        f"passphrase changed: key {name[:16]} replaces {old[:16]} at {', '.join(changes.done)}",
    )


@key.command("remove")
@click.argument("key_id")
@_common
def remove(policy_file: Path | None, repo: str | None, site_name: str | None, key_id: str) -> None:
    """Remove the key file KEY_ID (an id prefix): its passphrase stops opening the repository.

    The key in use and the last key are never removed.
    """
    policy, secret = _policy(policy_file, repo)
    with _opened(policy, secret, site_name) as (opened, targets, unreachable):
        name, changes = keyring.remove_key(opened, targets, key_id)
    _report(changes, unreachable, f"key {name[:16]} removed")
    emit(
        {"id": name, "sites": changes.done}, f"removed key {name[:16]} at {', '.join(changes.done)}"
    )
