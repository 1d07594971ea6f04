"""The ``tulou detect`` and ``tulou rules`` command groups."""

from __future__ import annotations

import click


@click.group()
def detect() -> None:
    """Ingest pcaps and logs as ECS events, search them, run rules."""


@click.group()
def rules() -> None:
    """Sigma rules: check, convert, list."""
