"""The SFTP target: a repository directory on another host, over SSH (paramiko).

URL: ``sftp://USER@HOST[:PORT]/ABSOLUTE/PATH``. Per-site options (never in the URL):
``key_file`` (private key; its passphrase, if any, from the environment variable named by
``key_passphrase_env``) and ``known_hosts`` (the host keys to trust; default
``~/.ssh/known_hosts``). Unknown host keys are refused: a backup site that cannot prove its
identity is not written to.

Atomic, no-replace writes: upload to ``.tmp-<random>`` in the destination folder, then SFTP
``rename``, which per the protocol (and OpenSSH's ``link``-based implementation) fails if the
destination exists.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat as statmod
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paramiko

from backup.targets.base import KINDS, FileInfo, check_name, relative_path
from tulou.errors import ConfigError, InputError, NotFoundError, UnavailableError


class SFTPTarget:
    """A repository under an absolute path on an SFTP server."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        root: str,
        *,
        key_file: Path | None = None,
        key_passphrase: str | None = None,
        known_hosts: Path | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.root = root.rstrip("/") or "/"
        self.location = f"sftp://{user}@{host}:{port}{self.root}"
        self._client = paramiko.SSHClient()
        hosts = known_hosts or Path("~/.ssh/known_hosts").expanduser()
        try:
            if hosts.is_file():
                self._client.load_host_keys(str(hosts))
            self._client.set_missing_host_key_policy(paramiko.RejectPolicy())
            self._client.connect(
                host,
                port=port,
                username=user,
                key_filename=str(key_file) if key_file else None,
                passphrase=key_passphrase,
                timeout=timeout,
                allow_agent=False,
                look_for_keys=key_file is None,
            )
            self._sftp = self._client.open_sftp()
        except (paramiko.SSHException, OSError) as exc:
            self._client.close()
            # str(exc) from paramiko names hosts and key types, never key material.
            raise UnavailableError(f"cannot open {self.location}: {exc}") from exc
        self._made: set[str] = set()

    def _path(self, kind: str, name: str) -> str:
        return f"{self.root}/{relative_path(kind, name)}"

    def _mkdirs(self, folder: str) -> None:
        if folder in self._made:
            return
        parts = folder.strip("/").split("/")
        current = ""
        for part in parts:
            current += "/" + part
            if current in self._made:
                continue
            try:
                self._sftp.stat(current)
            except FileNotFoundError:
                with contextlib.suppress(OSError):  # a concurrent writer made it first
                    self._sftp.mkdir(current, mode=0o700)
            self._made.add(current)

    def save(self, kind: str, name: str, data: bytes) -> None:
        path = self._path(kind, name)
        folder = path.rsplit("/", 1)[0]
        tmp = f"{folder}/.tmp-{secrets.token_hex(8)}"
        try:
            self._mkdirs(folder)
            with self._sftp.open(tmp, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)
                handle.chmod(0o600)
            try:
                self._sftp.stat(path)
            except FileNotFoundError:
                pass
            else:
                raise FileExistsError(f"{kind}/{name} already exists at {self.location}")
            try:
                self._sftp.rename(tmp, path)
            except OSError as exc:
                raise FileExistsError(f"{kind}/{name} already exists at {self.location}") from exc
        except paramiko.SSHException as exc:
            raise UnavailableError(f"cannot write to {self.location}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError, paramiko.SSHException):
                self._sftp.remove(tmp)

    def load(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(kind, name)
        try:
            with self._sftp.open(path, "rb") as handle:
                if offset:
                    handle.seek(offset)
                if length is None:
                    handle.prefetch()
                    data = handle.read()
                else:
                    data = handle.read(length)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}") from exc
        except (paramiko.SSHException, OSError) as exc:
            raise UnavailableError(f"cannot read {kind}/{name} at {self.location}: {exc}") from exc
        if length is not None and len(data) != length:
            raise InputError(f"{kind}/{name}: short read ({len(data)} of {length} bytes)")
        return bytes(data)

    def stat(self, kind: str, name: str) -> FileInfo:
        try:
            attrs = self._sftp.stat(self._path(kind, name))
        except FileNotFoundError as exc:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}") from exc
        return FileInfo(name, int(attrs.st_size or 0))

    def _listdir(self, folder: str) -> list[paramiko.SFTPAttributes]:
        try:
            return list(self._sftp.listdir_attr(folder))
        except FileNotFoundError:
            return []

    def list(self, kind: str) -> Iterator[FileInfo]:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        if kind == "config":
            with contextlib.suppress(NotFoundError):
                yield self.stat("config", "config")
            return
        base = f"{self.root}/{kind}"
        folders = [base]
        if kind == "data":
            folders = [
                f"{base}/{a.filename}"
                for a in self._listdir(base)
                if a.st_mode is not None and statmod.S_ISDIR(a.st_mode)
            ]
        for folder in folders:
            for attrs in self._listdir(folder):
                if attrs.filename.startswith(".") or not statmod.S_ISREG(attrs.st_mode or 0):
                    continue
                yield FileInfo(attrs.filename, int(attrs.st_size or 0))

    def remove(self, kind: str, name: str) -> None:
        check_name(kind, name)
        try:
            self._sftp.remove(self._path(kind, name))
        except FileNotFoundError as exc:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._sftp.close()
        self._client.close()


def from_url(url: str, options: dict[str, str]) -> SFTPTarget:
    parts = urlsplit(url)
    if parts.password is not None:
        raise ConfigError("an sftp target URL must not contain a password; use key_file")
    if not parts.hostname or not parts.username or not parts.path.startswith("/"):
        raise ConfigError("sftp target URL must look like sftp://user@host[:port]/absolute/path")
    passphrase = None
    env_name = options.get("key_passphrase_env")
    if env_name:
        passphrase = os.environ.get(env_name)
        if passphrase is None:
            raise ConfigError(f"environment variable {env_name} (key passphrase) is not set")
    key_file = options.get("key_file")
    known_hosts = options.get("known_hosts")
    return SFTPTarget(
        parts.hostname,
        parts.port or 22,
        unquote(parts.username),
        unquote(parts.path),
        key_file=Path(key_file).expanduser() if key_file else None,
        key_passphrase=passphrase,
        known_hosts=Path(known_hosts).expanduser() if known_hosts else None,
    )
