"""The local-directory target (the default site).

Writes go to a temporary file in the destination folder, are fsynced, then hard-linked to the
final name: ``link`` fails if the name exists, so a file is never replaced, and a crash leaves
only a ``.tmp-*`` file that :meth:`LocalTarget.list` ignores and a later run may delete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from backup.targets.base import KINDS, FileInfo, check_name, relative_path
from tulou.errors import ConfigError, InputError, NotFoundError, UnavailableError
from tulou.registry import split_url

_DIR_MODE = 0o700
_FILE_MODE = 0o600


class LocalTarget:
    """A repository in a directory of this machine."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.location = f"local:{self.root}"

    def _path(self, kind: str, name: str) -> Path:
        return self.root / relative_path(kind, name)

    def save(self, kind: str, name: str, data: bytes) -> None:
        path = self._path(kind, name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        except OSError as exc:
            raise UnavailableError(f"cannot write to {self.location}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.link(tmp, path)  # atomic, and refuses to replace: FileExistsError
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except FileExistsError:
            raise
        except OSError as exc:
            # Name the destination: a full disk at the site is not a problem of the file
            # being backed up (ENOSPC used to surface as "cannot read <source file>").
            raise UnavailableError(
                f"cannot write {kind}/{name[:16]} to {self.location}: {exc.strerror}"
            ) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def load(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(kind, name)
        try:
            with path.open("rb") as handle:
                if offset:
                    handle.seek(offset)
                data = handle.read() if length is None else handle.read(length)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}") from exc
        except OSError as exc:
            raise UnavailableError(f"cannot read {kind}/{name}: {exc.strerror}") from exc
        if length is not None and len(data) != length:
            raise InputError(f"{kind}/{name}: short read ({len(data)} of {length} bytes)")
        return data

    def stat(self, kind: str, name: str) -> FileInfo:
        try:
            return FileInfo(name, self._path(kind, name).stat().st_size)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}") from exc

    def list(self, kind: str) -> Iterator[FileInfo]:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        if kind == "config":
            path = self.root / "config"
            if path.is_file():
                yield FileInfo("config", path.stat().st_size)
            return
        base = self.root / kind
        if not base.is_dir():
            return
        folders = sorted(p for p in base.iterdir() if p.is_dir()) if kind == "data" else [base]
        for folder in folders:
            for entry in os.scandir(folder):
                if entry.is_file() and not entry.name.startswith("."):
                    yield FileInfo(entry.name, entry.stat().st_size)

    def remove(self, kind: str, name: str) -> None:
        check_name(kind, name)
        try:
            self._path(kind, name).unlink()
        except FileNotFoundError as exc:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}") from exc

    def close(self) -> None:
        return None


def from_url(url: str, options: dict[str, str]) -> LocalTarget:
    path = split_url(url, default="local").location
    if not path:
        raise ConfigError("a local target needs a path (local:/some/dir)")
    return LocalTarget(Path(path))
