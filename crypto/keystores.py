"""The registry of key store implementations, by stable id."""

from __future__ import annotations

from crypto.filekeystore import FileKeyStore
from crypto.keystore import KeyStore, MemoryKeyStore
from crypto.kmskeystore import KmsKeyStore
from tulou.errors import ConfigError

#: id -> implementation. ``file`` is the default; ``memory`` is the fake for tests; ``kms``
#: keeps the keys in the crypto service (``kms:https://host:port/TENANT/RING``).
KEYSTORES: dict[str, type[KeyStore]] = {}


def register_keystore(store_id: str, cls: type[KeyStore]) -> None:
    """Register an implementation under a stable id; a duplicate id is refused."""
    if store_id in KEYSTORES:
        raise ConfigError(f"key store id {store_id!r} is already registered")
    KEYSTORES[store_id] = cls


register_keystore("file", FileKeyStore)
register_keystore("memory", MemoryKeyStore)
register_keystore("kms", KmsKeyStore)
