"""Follow a growing log like a log shipper: persisted offset, rotation and truncation handled.

State (one JSON file per followed path under ``state_dir``): ``{"path", "device", "inode",
"offset", "identity"}``. The offset is saved only after the lines before it were delivered
(stored or spooled to disk), so a crash re-reads at most one chunk -- whose events carry the
same deterministic ids and are dropped as duplicates.

Rotation: when the path names a different file (new inode) or shrank below the saved offset,
the rest of the old file is read first -- through the still-open handle, or, after a restart,
by finding the file with the saved inode beside the path (``auth.log.1``) -- then the new file
is read from its start. Only complete lines are read; a partial last line waits.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, BinaryIO

from detect.ingest import Ingestor
from detect.model import IDENTITY_BYTES, Source, identity_of_head
from detect.parsers import Parser

CHUNK = 4 * 1024 * 1024


class Follower:
    """Reads what was appended to ``path`` since the last call to :meth:`poll`."""

    def __init__(self, path: Path, state_dir: Path, ingestor: Ingestor, parser: Parser) -> None:
        self.path = path.resolve()
        self.ingestor = ingestor
        self.parser = parser
        digest = hashlib.sha256(str(self.path).encode()).hexdigest()[:16]
        self.state_file = state_dir / f"{digest}.json"
        self.state: dict[str, Any] = self._load()
        self._handle: BinaryIO | None = None

    def _load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state))
        temporary.replace(self.state_file)

    def _rotated_file(self) -> Path | None:
        """After a restart: the file that still has the saved inode (the rotated log)."""
        for candidate in sorted(self.path.parent.glob(self.path.name + "*")):
            try:
                info = candidate.stat()
            except OSError:
                continue
            if (info.st_dev, info.st_ino) == (self.state.get("device"), self.state.get("inode")):
                return candidate
        return None

    def _drain(self, handle: BinaryIO, name: str, final: bool) -> int:
        """Deliver the complete lines from the saved offset; returns records read."""
        total = 0
        handle.seek(self.state.get("offset", 0))
        while True:
            start = handle.tell()
            data = handle.read(CHUNK)
            if not data:
                break
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if not final and len(data) < CHUNK:
                    handle.seek(start)
                    break
                cut = len(data)  # a final partial line, or a line longer than a chunk
            handle.seek(start + cut)
            identity = self.state.get("identity")
            if not identity:  # the first line is complete now: it names the file
                identity = identity_of_head(os.pread(handle.fileno(), IDENTITY_BYTES, 0))
                self.state["identity"] = identity
            source = Source(name=name, identity=identity, offset=start)
            total += self.ingestor.ingest_stream(io.BytesIO(data[:cut]), source, self.parser)
            self.state["offset"] = start + cut
            self._save()
        return total

    def poll(self) -> int:
        """Read and deliver everything new; returns how many records were read."""
        records = 0
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return 0
        same = (info.st_dev, info.st_ino) == (self.state.get("device"), self.state.get("inode"))
        if self.state and not same:
            old = self._handle
            if old is None:
                rotated = self._rotated_file()
                old = rotated.open("rb") if rotated is not None else None
            if old is not None:
                records += self._drain(old, str(self.path), final=True)
                old.close()
            self._handle = None
            self.state = {}
        elif same and info.st_size < self.state.get("offset", 0):
            self.state["offset"] = 0  # truncated in place (copytruncate)
            self.state["identity"] = None
        if self._handle is None:
            self._handle = self.path.open("rb")
            opened = os.fstat(self._handle.fileno())
            if not self.state:
                self.state = {
                    "path": str(self.path),
                    "device": opened.st_dev,
                    "inode": opened.st_ino,
                    "offset": 0,
                    "identity": None,
                }
        records += self._drain(self._handle, str(self.path), final=False)
        return records

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
