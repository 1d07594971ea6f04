"""The city CA, CMS and the timestamp authority as parts of the service (attached at start)."""

from __future__ import annotations

from typing import Any


def attach(service: Any) -> None:
    """Add the PKI routers to ``service.extras['routers']`` (none yet in this version)."""
    service.extras.setdefault("routers", [])
