"""The registry of key store implementations, by stable id."""

from __future__ import annotations

from crypto.filekeystore import FileKeyStore
from crypto.keystore import MemoryKeyStore, RecordKeyStore
from tulou.errors import ConfigError

#: id -> implementation. ``file`` is the default; ``memory`` is the fake for tests.
KEYSTORES: dict[str, type[RecordKeyStore]] = {}


def register_keystore(store_id: str, cls: type[RecordKeyStore]) -> None:
    """Register an implementation under a stable id; a duplicate id is refused."""
    if store_id in KEYSTORES:
        raise ConfigError(f"key store id {store_id!r} is already registered")
    KEYSTORES[store_id] = cls


register_keystore("file", FileKeyStore)
register_keystore("memory", MemoryKeyStore)
