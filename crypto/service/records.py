"""Authenticated JSON records written atomically: the storage under every service object.

A record is one JSON file. :meth:`RecordStore.commit` writes it to a temporary file in the same
directory, ``fsync``\\ s it, renames it over the old one and ``fsync``\\ s the directory, so after
a crash (a ``kill -9`` mid-write included) the file holds either the old or the new record,
never a mixture. Each record carries ``generation`` (incremented per commit) and ``mac``:
HMAC-SM3 under the master key (:mod:`crypto.service.master`) over the canonical JSON of all
other fields *and* the record's relative path, so a record edited, swapped between two keys or
rolled back to an older copy under another name is refused on load.

One process owns a store at a time (an exclusive ``flock`` on ``<root>/lock``); a second
``tulou crypto serve`` on the same directory is refused. Leftover temporary files of a crash
are removed on open. Reusable by any service object (keys, the CA, timestamp serials, ...).
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from crypto.service.master import MasterKey
from tulou.errors import ConfigError, InputError, VerificationError

_TMP_SUFFIX = ".tmp"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class RecordStore:
    """Atomic, MAC-protected JSON records under ``root`` (relative paths, ``/``-separated)."""

    def __init__(self, root: Path, master: MasterKey) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._master = master
        self._lock_fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise ConfigError(f"the key store {self.root} is in use by another process") from None
        for leftover in self.root.rglob(f".*{_TMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    def __repr__(self) -> str:
        return f"RecordStore({self.root})"

    def _path(self, rel: str) -> Path:
        parts = rel.split("/")
        if not parts or any(not p or p.startswith(".") for p in parts):
            raise ValueError(f"bad record path {rel!r}")
        return self.root.joinpath(*parts)

    def _mac(self, rel: str, record: dict[str, Any]) -> str:
        body = {k: v for k, v in record.items() if k != "mac"}
        return self._master.mac(rel.encode() + b"\0" + canonical(body)).hex()

    def load(self, rel: str) -> dict[str, Any] | None:
        """The record at ``rel`` (checked), or None if there is none."""
        path = self._path(rel)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(data)
        except ValueError:
            raise InputError(f"{path}: not valid JSON") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: not a record")
        if not hmac.compare_digest(self._mac(rel, record), str(record.get("mac", ""))):
            raise VerificationError(f"record {rel} failed its integrity check")
        return record

    def commit(self, rel: str, record: dict[str, Any]) -> dict[str, Any]:
        """Write ``record`` atomically with the next generation; return what was written."""
        path = self._path(rel)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        out = {k: v for k, v in record.items() if k != "mac"}
        out["generation"] = int(record.get("generation", 0)) + 1
        out["mac"] = self._mac(rel, out)
        data = json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{_TMP_SUFFIX}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return out

    def create(self, rel: str, record: dict[str, Any]) -> dict[str, Any]:
        """As :meth:`commit`, refusing (FileExistsError) if ``rel`` exists."""
        if self._path(rel).exists():
            raise FileExistsError(rel)
        return self.commit(rel, record)

    def children(self, rel: str = "") -> list[str]:
        """Names of the entries directly under ``rel`` (directories and ``*.json`` stems)."""
        folder = self._path(rel) if rel else self.root
        if not folder.is_dir():
            return []
        out = []
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                out.append(entry.name)
            elif entry.suffix == ".json":
                out.append(entry.stem)
        return sorted(set(out))
