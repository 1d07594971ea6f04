"""The storage target contract every backup site implements, and the registry of target kinds.

A *target* stores the files of one repository at one site: a local directory, a directory on
another host over SFTP, or a prefix in an S3-compatible bucket. The repository above it only
ever calls the six methods of :class:`Target`; what each MUST do is stated in its docstring, and
``tests/integration/backup/test_target_conformance.py`` checks every implementation against it.

Files are addressed by a kind (one of :data:`KINDS`) and a name. Names are lowercase hex
digests (or ``config``); a target MUST reject any other name so that a hostile or broken caller
can never escape the repository's root.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tulou.errors import UsageError

#: The kinds of file a repository holds; each is a folder (``data`` fans out into 256 folders).
KINDS: tuple[str, ...] = ("config", "keys", "snapshots", "index", "data", "locks")

_NAME = re.compile(r"^[0-9a-f]{8,128}$")


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One stored file: its name and size in bytes."""

    name: str
    size: int


def check_name(kind: str, name: str) -> None:
    """Raise :class:`UsageError` unless (kind, name) is a well-formed repository file address."""
    if kind not in KINDS:
        raise UsageError(f"unknown repository file kind {kind!r}")
    if kind == "config":
        if name != "config":
            raise UsageError("the config file is always named 'config'")
        return
    if not _NAME.match(name):
        raise UsageError(f"invalid repository file name {name!r} (lowercase hex expected)")


def relative_path(kind: str, name: str) -> str:
    """The file's path relative to the repository root, with ``/`` separators."""
    check_name(kind, name)
    if kind == "config":
        return "config"
    if kind == "data":
        return f"data/{name[:2]}/{name}"
    return f"{kind}/{name}"


@runtime_checkable
class Target(Protocol):
    """One site's storage for one repository.

    Contract (every implementation MUST):

    - ``save(kind, name, data)``: store ``data`` atomically: a concurrent or later reader sees
      either nothing or all of it, never a prefix, even if the process dies mid-write. MUST
      refuse to replace an existing file (raise :class:`FileExistsError`) except for kind
      ``locks``... which is never replaced either: every file is written once.
    - ``load(kind, name, offset=0, length=None)``: return exactly the bytes stored (the range
      ``[offset, offset+length)`` when given); raise :class:`tulou.errors.NotFoundError` if the
      file does not exist, and never return fewer bytes than asked without raising
      :class:`tulou.errors.InputError`.
    - ``stat(kind, name)``: the :class:`FileInfo`; :class:`NotFoundError` if absent.
    - ``list(kind)``: every file of that kind, each once, in any order; an empty kind lists
      nothing (not an error).
    - ``remove(kind, name)``: delete the file; :class:`NotFoundError` if absent.
    - ``close()``: release connections; idempotent.

    Site failures (host unreachable, credentials refused) raise
    :class:`tulou.errors.UnavailableError`. No method may log or repr a secret. ``location`` is
    a human description without credentials.
    """

    location: str

    def save(self, kind: str, name: str, data: bytes) -> None: ...

    def load(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes: ...

    def stat(self, kind: str, name: str) -> FileInfo: ...

    def list(self, kind: str) -> Iterator[FileInfo]: ...

    def remove(self, kind: str, name: str) -> None: ...

    def close(self) -> None: ...


type TargetFactory = Callable[[str, dict[str, str]], Target]
