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

from tulou.errors import ConfigError, UsageError

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

_REGISTRY: dict[str, TargetFactory] = {}


def register(scheme: str, factory: TargetFactory) -> None:
    """Register the factory for URLs ``scheme:...``; a scheme is registered once."""
    if scheme in _REGISTRY:
        raise ValueError(f"target scheme {scheme!r} is already registered")
    _REGISTRY[scheme] = factory


def schemes() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def open_target(url: str, options: dict[str, str] | None = None) -> Target:
    """Open the target named by ``url`` (``local:PATH`` or a bare path, ``sftp://``, ``s3://``).

    ``options`` carries per-site settings that are not part of the URL (key files, credential
    environment variable names); credentials never appear in the URL itself.
    """
    from backup.targets import load_builtin  # noqa: PLC0415 - explicit registration on first use

    load_builtin()
    scheme, sep, _rest = url.partition(":")
    if not sep or "/" in scheme or len(scheme) < 2:  # a bare path (or a Windows drive)
        scheme, url = "local", f"local:{url}"
    factory = _REGISTRY.get(scheme)
    if factory is None:
        raise ConfigError(f"unknown target scheme {scheme!r}; known: {', '.join(schemes())}")
    return factory(url, dict(options or {}))
