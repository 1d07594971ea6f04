"""The `tulou gateway` command group."""

from __future__ import annotations

import click


@click.group()
def gateway() -> None:
    """The zero-trust access proxy: policy decision point and mitmproxy enforcement."""
