"""The ``tulou backup`` and ``tulou drill`` command groups."""

from __future__ import annotations

import click


@click.group()
def backup() -> None:
    """Encrypted, deduplicated, multi-site backups."""


@click.group()
def drill() -> None:
    """Disaster-recovery drills with measured RTO/RPO."""
