"""The ``tulou soc`` command group (``tulou report`` is the compliance component's)."""

from __future__ import annotations

import click


@click.group()
def soc() -> None:
    """Security operations center: serve the API and web UI, verify the audit trail."""


from soc.commands import attach as _attach_soc_commands  # noqa: E402 - after the group

_attach_soc_commands(soc)
