"""What a backup leaves out: exclude patterns, exclude files, cache directories, size limits.

Pure logic (no I/O except :func:`read_exclude_file`); the archiver asks :meth:`Filters.excluded`
about every entry before it reads it. The rules, as restic's and gitignore's:

- A pattern is matched against the entry's absolute path, component by component, with shell
  wildcards in each component (``*``, ``?``, ``[...]``; they never match ``/``) and ``**``
  matching any number of whole components. A pattern that does not start with ``/`` matches
  at any depth (``*.tmp``, ``node_modules``, ``logs/*.gz``). A trailing ``/`` is ignored.
- ``!pattern`` re-includes what an earlier pattern excluded; the last matching pattern wins.
  An excluded directory is not entered, so nothing below it can be re-included.
- ``exclude_caches``: a directory holding a ``CACHEDIR.TAG`` file that starts with the
  signature of the Cache Directory Tagging Specification keeps only that file (as restic
  does), so a restore shows where a cache was.
- ``larger_than``: regular files above this many bytes are left out.

Every exclusion is counted; none is silent (the snapshot's summary and the command's output
give the count).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tulou.errors import InputError, UsageError

CACHEDIR_TAG = "CACHEDIR.TAG"
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgGtT]?)[iI]?[bB]?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``"500"``, ``"64k"``, ``"10M"``, ``"2G"``, ``"1T"`` (powers of 1024) -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"invalid size {text!r}: a number with an optional k, M, G or T suffix")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def read_exclude_file(path: Path) -> list[str]:
    """Patterns of an exclude file: one per line; blank lines and ``#`` comments ignored."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read exclude file {path}: {exc.strerror}") from exc
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


@dataclass(frozen=True)
class _Pattern:
    parts: tuple[str, ...]
    negated: bool

    @classmethod
    def parse(cls, text: str) -> _Pattern:
        negated = text.startswith("!")
        body = text[1:] if negated else text
        body = body.rstrip("/")
        if not body:
            raise UsageError(f"empty exclude pattern {text!r}")
        parts = [p for p in body.split("/") if p]
        if not body.startswith("/"):
            parts.insert(0, "**")
        return cls(tuple(parts), negated)

    def matches(self, components: tuple[str, ...]) -> bool:
        return _match(self.parts, components)


def _match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], head) and _match(rest, path[1:])


@dataclass(frozen=True)
class Filters:
    """The exclusion rules of one backup run (typed, validated once, then frozen)."""

    patterns: tuple[str, ...] = ()
    exclude_caches: bool = False
    larger_than: int | None = None
    _compiled: tuple[_Pattern, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(_Pattern.parse(p) for p in self.patterns))
        if self.larger_than is not None and self.larger_than < 0:
            raise UsageError("the size limit must not be negative")

    @cached_property
    def active(self) -> bool:
        return bool(self._compiled) or self.exclude_caches or self.larger_than is not None

    def excluded(self, path: str) -> bool:
        """Whether the entry at absolute ``path`` matches the patterns (last match wins)."""
        if not self._compiled:
            return False
        components = tuple(p for p in path.split("/") if p)
        verdict = False
        for pattern in self._compiled:
            if pattern.negated == verdict and pattern.matches(components):
                verdict = not pattern.negated
        return verdict

    def too_large(self, size: int) -> bool:
        return self.larger_than is not None and size > self.larger_than

    def merged(self, other: Filters) -> Filters:
        """These rules and ``other``'s (patterns appended: ``other``'s come last and win)."""
        limits = [x for x in (self.larger_than, other.larger_than) if x is not None]
        return Filters(
            self.patterns + other.patterns,
            self.exclude_caches or other.exclude_caches,
            min(limits) if limits else None,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "exclude": list(self.patterns),
            "exclude_caches": self.exclude_caches,
            "exclude_larger_than": self.larger_than,
        }


def is_cache_tag(head: bytes) -> bool:
    """Whether the first bytes of a ``CACHEDIR.TAG`` file carry the standard signature."""
    return head.startswith(CACHEDIR_SIGNATURE)
