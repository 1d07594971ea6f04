"""Compiled rules cached by content, so running the same rules again pays no conversion.

Converting the 3,754 SigmaHQ rules with pySigma costs ~30 s of CPU; a rule's conversion
depends only on:

- the rule's exact text (:attr:`LoadedRule.content_hash
  <detect.rules.loader.LoadedRule.content_hash>`),
- the processing pipeline and the backend: the pipeline YAML files, and the source of the
  modules that build pipelines and queries (:func:`code_key`), with the pySigma version,
- the store layout the SQLite backend reads (which fields never hold JSON arrays): only for the
  fields the rule reads, which each entry records with their layout at compile time.

One cache file per (target, code key) under the cache directory
(``<data_dir>/detect/rule-cache/``): JSON ``{"version", "entries": {content hash: entry}}``,
written atomically (temporary file, rename). An entry is either a compiled rule (queries,
fields, the fields among them that were scalar, partition equalities, literal trees) or the
problem the rule had. A missing, unreadable or foreign-version file is simply a cold cache;
an entry whose recorded layout differs from the store's now is recompiled. Only backends that
say what their output depends on (:class:`detect.rules.sqlite_backend.TulouSqliteBackend`'s
``layout``) are cached; other backends always compile.

The cache holds queries that run against the store: it lives in the data directory, which
only the user running Tulou can write (like the store itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from detect.rules.literals import AllOf, AnyOf, Lit, Tree

VERSION = 1
#: Modules whose code decides what a rule compiles to.
_CODE = (
    "compile.py",
    "compile_cache.py",
    "literals.py",
    "pipelines.py",
    "regex.py",
    "sqlite_backend.py",
)


def code_key(target: str, pipelines_dir: Path | None = None) -> str:
    """A digest of everything but the rule and the layout that a compilation depends on."""
    digest = hashlib.sha256(f"{VERSION}\0{target}\0".encode())
    for name in ("pysigma", "pysigma-backend-sqlite"):
        try:
            digest.update(f"{name}={metadata.version(name)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=?\0".encode())
    here = Path(__file__).parent
    for name in _CODE:
        path = here / name
        digest.update(path.read_bytes() if path.exists() else b"")
    if pipelines_dir is not None and pipelines_dir.is_dir():
        for path in sorted(pipelines_dir.glob("*.yml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def tree_to_json(tree: Tree | None) -> Any:
    if tree is None:
        return None
    if isinstance(tree, Lit):
        return ["lit", tree.field, tree.literal]
    kind = "all" if isinstance(tree, AllOf) else "any"
    return [kind, [tree_to_json(part) for part in tree.parts]]


def tree_from_json(data: Any) -> Tree | None:
    if data is None:
        return None
    if data[0] == "lit":
        return Lit(str(data[1]), str(data[2]))
    parts = tuple(t for t in (tree_from_json(p) for p in data[1]) if t is not None)
    return AllOf(parts) if data[0] == "all" else AnyOf(parts)


class CompileCache:
    """Entries of one (target, code key), read once and written back by :meth:`save`."""

    def __init__(self, directory: Path, key: str) -> None:
        self.path = directory / f"{key}.json"
        self.entries: dict[str, dict[str, Any]] = {}
        self.hits = 0
        self.misses = 0
        self._dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == VERSION:
            entries = data.get("entries")
            if isinstance(entries, dict):
                self.entries = entries

    def get(self, content_hash: str, scalars: frozenset[str] | None) -> dict[str, Any] | None:
        """The entry for a rule, if its recorded layout matches ``scalars`` (the store's
        scalar fields now; None: the backend has no layout)."""
        entry = self.entries.get(content_hash)
        if entry is not None and "fields" in entry and scalars is not None:
            was = set(entry.get("scalars", ()))
            if any((f in scalars) != (f in was) for f in entry["fields"]):
                entry = None
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, content_hash: str, entry: dict[str, Any]) -> None:
        self.entries[content_hash] = entry
        self._dirty = True

    def save(self) -> None:
        """Write the entries (atomically) if anything changed; errors leave a cold cache."""
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"version": VERSION, "entries": self.entries}, out)
            os.replace(temporary, self.path)
        except OSError:
            return
        self._dirty = False
