"""The report-signing key: an SM2 key kept wrapped at rest under the master passphrase.

Default location ``<data_dir>/reports/signing-key.pem`` (PKCS#8, encrypted with
``TULOU_MASTER_PASSPHRASE``) beside ``signing-key.pub.pem``, which is what regulators pin. The
default key is created on first use; a key named explicitly must exist. Passphrases come from
the settings (environment or config file), never from the command line.

Key files are written whole or not at all: the wrapped key goes to a 0600 temporary file in the
same directory, is flushed to disk, and is linked into place only then (a second creator racing
this one finds the first one's key). The passphrase is checked *before* anything is written, so
a run without ``TULOU_MASTER_PASSPHRASE`` leaves nothing behind. An empty key file (left by an
older version that failed half-way) holds no secret and is replaced.
"""

from __future__ import annotations

import os
import tempfile
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
    if path.is_file() and path.stat().st_size > 0:
        pem = path.read_bytes()
        if b"ENCRYPTED" in pem:
            return SM2PrivateKey.from_pem(pem, _passphrase(settings))
        return SM2PrivateKey.from_pem(pem)
    if explicit:
        raise NotFoundError(f"report-signing key {path} does not exist")
    passphrase = _passphrase(settings)  # before anything is written
    key = SM2PrivateKey.generate()
    if not _write_atomically(path, key.to_pem(passphrase), 0o600, replace=_empty(path)):
        return load_signing_key(settings, path)  # another run created it first: use that one
    # The public half follows the private one: whoever wrote the key writes its public key.
    _write_atomically(public_key_path(path), key.public_key().to_pem(), 0o644, replace=True)
    return key


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return False


def _write_atomically(path: Path, data: bytes, mode: int, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` whole or not at all; False if it exists and ``replace`` is
    not set (the file found there is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # 0600 for a private key before a single byte is in it
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)


def load_public_key(path: Path) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_pem(path.read_bytes())
    except FileNotFoundError:
        raise NotFoundError(f"public key {path} does not exist") from None
