"""The `tulou crypto` command group."""

from __future__ import annotations

import click


@click.group()
def crypto() -> None:
    """Commercial cryptography: SM2, SM3, SM4 on native backends, the key store and the envelope."""
