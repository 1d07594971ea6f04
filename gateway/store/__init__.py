"""The state seam shared by gateway instances: protocol, implementations, registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.store.base import (
    KINDS,
    BucketSpec,
    Change,
    Snapshot,
    StateStore,
    StoreUnavailable,
    merge,
)
from gateway.store.memory import MemoryStore


def _redis(url: str, **options: Any) -> StateStore:
    from gateway.store.redis_store import RedisStore  # noqa: PLC0415 - only when configured

    return RedisStore(url, **options)


#: backend name -> factory(url, **options)
BACKENDS: dict[str, Callable[..., StateStore]] = {
    "memory": lambda url="", **options: MemoryStore(),
    "redis": _redis,
}


def open_store(backend: str, url: str = "", **options: Any) -> StateStore:
    """The store named ``backend`` (``memory`` | ``redis``)."""
    try:
        factory = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown state backend {backend!r}") from None
    return factory(url, **options)


__all__ = [
    "BACKENDS",
    "KINDS",
    "BucketSpec",
    "Change",
    "MemoryStore",
    "Snapshot",
    "StateStore",
    "StoreUnavailable",
    "merge",
    "open_store",
]
