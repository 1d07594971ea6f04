"""What the ``tulou backup`` commands share: site options, the policy, the passphrase, progress.

Sites and sources come from a policy file (``--policy``, or ``TULOU_BACKUP_POLICY``), or a
single site from ``--repo URL``. The passphrase is read from the environment variable the
policy names (default ``TULOU_BACKUP_PASSPHRASE``) or prompted for; never from argv.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from backup import policy as policy_mod
from backup.policy import Policy
from tulou.clikit import app
from tulou.errors import UsageError

F = Callable[..., Any]


def site_options(func: F) -> F:
    func = click.option("--site", "site_name", help="Site to use (default: the first).")(func)
    func = click.option(
        "--repo", help="A single site URL instead of a policy (path, sftp://, s3://)."
    )(func)
    return click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="TULOU_BACKUP_POLICY",
        help="Backup policy (TOML).",
    )(func)


def no_lock_option(func: F) -> F:
    return click.option(
        "--no-lock",
        is_flag=True,
        help="Read without taking a lock: for read-only and WORM media (nothing is written to "
        "the site; every byte read is still verified).",
    )(func)


def load_policy(policy_file: Path | None, repo: str | None) -> Policy:
    if repo:
        return policy_mod.single_site(repo)
    if policy_file is None:
        raise UsageError("give --policy FILE (or TULOU_BACKUP_POLICY) or --repo URL")
    return policy_mod.load(policy_file)


def passphrase(policy: Policy, *, confirm: bool = False) -> str:
    value = policy.passphrase()
    if value:
        return value
    if not os.isatty(0):
        raise UsageError(f"set {policy.passphrase_env} (the repository passphrase)")
    return str(
        click.prompt(
            "Repository passphrase", hide_input=True, confirmation_prompt=confirm, err=True
        )
    )


@contextlib.contextmanager
def progress_bar(label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    console = Console(stderr=True)
    disabled = app().json_output or not console.is_terminal
    with Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        disable=disabled,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
