"""An in-memory target: the fake for unit tests of code above the target layer.

It honours the whole :class:`backup.targets.base.Target` contract (the conformance suite runs
against it too) and adds :meth:`MemoryTarget.corrupt` for fault injection. ``memory:NAME`` URLs
name process-wide instances so that a CLI test can reopen the same one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from backup.targets.base import FileInfo, check_name
from tulou.errors import InputError, NotFoundError
from tulou.registry import split_url

_NAMED: dict[str, MemoryTarget] = {}


class MemoryTarget:
    """Files kept in a dict; thread-safe."""

    def __init__(self, label: str = "memory") -> None:
        self.location = f"memory:{label}"
        self._files: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def save(self, kind: str, name: str, data: bytes) -> None:
        check_name(kind, name)
        with self._lock:
            if (kind, name) in self._files:
                raise FileExistsError(f"{kind}/{name} already exists at {self.location}")
            self._files[(kind, name)] = bytes(data)

    def load(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        check_name(kind, name)
        with self._lock:
            data = self._files.get((kind, name))
        if data is None:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}")
        end = len(data) if length is None else offset + length
        if offset < 0 or end > len(data):
            raise InputError(f"{kind}/{name}: range {offset}+{length} beyond {len(data)} bytes")
        return data[offset:end]

    def stat(self, kind: str, name: str) -> FileInfo:
        check_name(kind, name)
        with self._lock:
            data = self._files.get((kind, name))
        if data is None:
            raise NotFoundError(f"{kind}/{name} does not exist at {self.location}")
        return FileInfo(name, len(data))

    def list(self, kind: str) -> Iterator[FileInfo]:
        with self._lock:
            items = [FileInfo(n, len(d)) for (k, n), d in self._files.items() if k == kind]
        yield from items

    def remove(self, kind: str, name: str) -> None:
        check_name(kind, name)
        with self._lock:
            if self._files.pop((kind, name), None) is None:
                raise NotFoundError(f"{kind}/{name} does not exist at {self.location}")

    def close(self) -> None:
        return None

    def corrupt(self, kind: str, name: str, offset: int) -> None:
        """Flip one bit of a stored file (fault injection for tests and drills)."""
        with self._lock:
            data = bytearray(self._files[(kind, name)])
            data[offset] ^= 0x01
            self._files[(kind, name)] = bytes(data)


def from_url(url: str, options: dict[str, str]) -> MemoryTarget:
    label = split_url(url).location or "default"
    if label not in _NAMED:
        _NAMED[label] = MemoryTarget(label)
    return _NAMED[label]
