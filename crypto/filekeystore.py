"""The file-based key store: one JSON file per key version under a directory.

Layout (format in docs/crypto.md)::

    <root>/keystore.json            format, KDF salt + iterations, passphrase check value
    <root>/keys/<name>/v<N>.json    one key version: public key, wrapped private key, MAC
    <root>/audit.jsonl              one ECS event per private-key use (append-only)

Files are created with mode 0600 (directories 0700). A version file is published with
``link()``, which fails if the name exists, so two concurrent rotations can never overwrite
each other: one of them gets a clear error and retries.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from crypto.keystore import AuditSink, RecordKeyStore, derive_master
from crypto.sm3 import PBKDF2_ITERATIONS, hmac_sm3
from tulou.errors import InputError, NotFoundError, UsageError, VerificationError
from tulou.events import Event

META = "keystore.json"
_CHECK_LABEL = b"tulou-keystore-check/v1"


class JsonLinesAudit:
    """Append audit events as JSON lines (one ``write`` per event, O_APPEND)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, event: Event) -> None:
        line = (json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _write_exclusive(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` durably; raise FileExistsError if ``path`` exists."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink()


class FileKeyStore(RecordKeyStore):
    """Keys under a directory, wrapped under a passphrase-derived master secret."""

    def __init__(self, root: Path, passphrase: bytes, *, audit: AuditSink | None = None) -> None:
        self.root = Path(root)
        meta_path = self.root / META
        if not meta_path.is_file():
            raise NotFoundError(f"no key store at {self.root} (run `tulou crypto keys init`)")
        try:
            meta = json.loads(meta_path.read_text())
            salt = bytes.fromhex(meta["kdf"]["salt"])
            iterations = int(meta["kdf"]["iterations"])
            check = str(meta["check"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{meta_path}: not a Tulou key store") from None
        if meta.get("format") != "tulou-keystore" or meta.get("format_version") != 1:
            raise InputError(f"{meta_path}: unknown key store format")
        master = derive_master(passphrase, salt, iterations)
        if not hmac.compare_digest(hmac_sm3(master[16:], _CHECK_LABEL).hex(), check):
            raise VerificationError("wrong passphrase for the key store")
        super().__init__(master, audit or JsonLinesAudit(self.root / "audit.jsonl"))

    @classmethod
    def init(
        cls,
        root: Path,
        passphrase: bytes,
        *,
        iterations: int = PBKDF2_ITERATIONS,
        audit: AuditSink | None = None,
    ) -> FileKeyStore:
        """Create an empty store at ``root`` (refuses to overwrite one)."""
        root = Path(root)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / "keys").mkdir(mode=0o700, exist_ok=True)
        salt = secrets.token_bytes(16)
        master = derive_master(passphrase, salt, iterations)
        meta = {
            "format": "tulou-keystore",
            "format_version": 1,
            "kdf": {"name": "pbkdf2-hmac-sm3", "salt": salt.hex(), "iterations": iterations},
            "check": hmac_sm3(master[16:], _CHECK_LABEL).hex(),
        }
        try:
            _write_exclusive(root / META, json.dumps(meta, indent=2).encode() + b"\n")
        except FileExistsError:
            raise UsageError(f"a key store already exists at {root}") from None
        return cls(root, passphrase, audit=audit)

    def _dir(self, name: str) -> Path:
        return self.root / "keys" / name

    def _names(self) -> list[str]:
        keys = self.root / "keys"
        return sorted(p.name for p in keys.iterdir() if p.is_dir()) if keys.is_dir() else []

    def _versions(self, name: str) -> list[int]:
        folder = self._dir(name)
        if not folder.is_dir():
            return []
        out = []
        for path in folder.glob("v*.json"):
            digits = path.stem[1:]
            if digits.isdigit():
                out.append(int(digits))
        return out

    def _read(self, name: str, version: int) -> dict[str, Any]:
        path = self._dir(name) / f"v{version}.json"
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFoundError(f"key {name}@v{version} does not exist") from None
        except ValueError:
            raise InputError(f"{path}: not valid JSON") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: not a key record")
        return record

    def _write_new(self, name: str, version: int, record: dict[str, Any]) -> None:
        folder = self._dir(name)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
        try:
            _write_exclusive(folder / f"v{version}.json", data)
        except FileExistsError:
            raise UsageError(f"{name}@v{version} was created concurrently; retry") from None
