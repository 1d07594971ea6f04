"""The report-signing key: an SM2 key kept wrapped at rest under the master passphrase.

Default location ``<data_dir>/reports/signing-key.pem`` (PKCS#8, encrypted with
``TULOU_MASTER_PASSPHRASE``) beside ``signing-key.pub.pem``, which is what regulators pin. The
default key is created on first use; a key named explicitly must exist. Passphrases come from
the settings (environment or config file), never from the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from tulou.errors import ConfigError, NotFoundError
from tulou.settings import Settings


def default_key_path(settings: Settings) -> Path:
    return settings.path("reports", "signing-key.pem")


def public_key_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name.removesuffix(".pem") + ".pub.pem")


def _passphrase(settings: Settings) -> bytes:
    if settings.master_passphrase is None:
        raise ConfigError(
            "the report-signing key is wrapped with the master passphrase: "
            "set TULOU_MASTER_PASSPHRASE"
        )
    return settings.master_passphrase.get_secret_value().encode()


def load_signing_key(settings: Settings, path: Path | None = None) -> SM2PrivateKey:
    """Load the signing key (``path`` or the default, created on first use)."""
    explicit = path is not None
    path = path or default_key_path(settings)
    if path.is_file():
        pem = path.read_bytes()
        if b"ENCRYPTED" in pem:
            return SM2PrivateKey.from_pem(pem, _passphrase(settings))
        return SM2PrivateKey.from_pem(pem)
    if explicit:
        raise NotFoundError(f"report-signing key {path} does not exist")
    key = SM2PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 before the (already wrapped) bytes are written: never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.to_pem(_passphrase(settings)))
    public_key_path(path).write_bytes(key.public_key().to_pem())
    return key


def load_public_key(path: Path) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_pem(path.read_bytes())
    except FileNotFoundError:
        raise NotFoundError(f"public key {path} does not exist") from None
