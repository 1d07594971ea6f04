"""Append-only mode: a target decorator that refuses every deletion except of lock files.

Ransomware (or a stolen backup credential) that reaches the backup client cannot then destroy
existing snapshots through Tulou. The guarantee is only as strong as where it is enforced:
for real protection the site must enforce it too (an SFTP account whose files are made
immutable by the server, an S3 bucket with Object Lock); docs/backup.md, "Threat model".
"""

from __future__ import annotations

from collections.abc import Iterator

from backup.targets.base import FileInfo, Target
from tulou.errors import PolicyDeniedError


class AppendOnlyTarget:
    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.location = inner.location

    def save(self, kind: str, name: str, data: bytes) -> None:
        self.inner.save(kind, name, data)

    def load(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.load(kind, name, offset, length)

    def stat(self, kind: str, name: str) -> FileInfo:
        return self.inner.stat(kind, name)

    def list(self, kind: str) -> Iterator[FileInfo]:
        return self.inner.list(kind)

    def remove(self, kind: str, name: str) -> None:
        if kind != "locks":
            raise PolicyDeniedError(f"{self.location} is append-only: {kind}/{name[:16]} kept")
        self.inner.remove(kind, name)

    def close(self) -> None:
        self.inner.close()
