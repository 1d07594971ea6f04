"""The registry of key store implementations, and opening one by URL.

URLs (the one grammar of :mod:`tulou.registry`): ``file:/path/to/keys`` or a bare path (the
default: keys wrapped under the master passphrase), ``memory:`` (the fake, for tests),
``kms:https://host:port/TENANT/RING`` (keys kept in the crypto service; its credentials come
from the environment, never the URL). The registry is built explicitly by
:func:`default_keystores`; nothing registers on import.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from crypto.keystore import AuditSink, KeyStore, MemoryKeyStore
from tulou.errors import ConfigError
from tulou.registry import Registry, split_url

#: (location from the URL, master passphrase or None, audit sink or None) -> an open store.
type KeyStoreOpener = Callable[[str, bytes | None, AuditSink | None], KeyStore]


def _file(location: str, passphrase: bytes | None, audit: AuditSink | None) -> KeyStore:
    from crypto.filekeystore import FileKeyStore  # noqa: PLC0415 - open only what is used

    if passphrase is None:
        raise ConfigError("set TULOU_MASTER_PASSPHRASE to open the key store")
    if not location:
        raise ConfigError("a file key store URL needs a directory: file:/path/to/keys")
    return FileKeyStore(Path(location), passphrase, audit=audit)


def _memory(location: str, passphrase: bytes | None, audit: AuditSink | None) -> KeyStore:
    return MemoryKeyStore(audit=audit)


def _kms(location: str, passphrase: bytes | None, audit: AuditSink | None) -> KeyStore:
    from crypto.kmskeystore import KmsKeyStore  # noqa: PLC0415 - the HTTP client is heavier

    return KmsKeyStore.from_url(f"kms:{location}", audit=audit)


def default_keystores() -> Registry[KeyStoreOpener]:
    """The built-in key stores, by URL scheme: ``file`` (default), ``memory``, ``kms``."""
    return Registry("key store", [("file", _file), ("memory", _memory), ("kms", _kms)])


def open_keystore(
    url: str,
    passphrase: bytes | None = None,
    *,
    audit: AuditSink | None = None,
    registry: Registry[KeyStoreOpener] | None = None,
) -> KeyStore:
    """Open the key store ``url`` names (see the module docstring)."""
    parsed = split_url(url, default="file")
    return (registry or default_keystores()).get(parsed.scheme)(parsed.location, passphrase, audit)
