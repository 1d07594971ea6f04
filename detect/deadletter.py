"""Dead-letter files: every record that could not become a stored event, with why and where.

Format: JSON lines, appended, one object per rejected record::

    {"time": "<when it was rejected, RFC 3339>", "source": "<file name>",
     "position": <byte offset> | "<kind:index>", "stage": "parse" | "store",
     "parser": "<parser id>", "reason": "<why>",
     "original": "<the record as text>" | null, "original_base64": "<bytes>" | null}

``original`` holds the record when it is valid UTF-8, else ``original_base64`` holds its bytes:
the original is always recoverable exactly. Lines are flushed as they are written, so a crash
loses no dead letter that was counted.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from tulou.events import format_timestamp


class DeadLetterFile:
    """Appends dead letters to ``path`` (created with its directory on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[str] | None = None

    def write(
        self,
        *,
        source: str,
        position: int | str,
        reason: str,
        original: bytes | str,
        parser: str,
        stage: str = "parse",
    ) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        raw = original.encode("utf-8") if isinstance(original, str) else original
        try:
            text: str | None = raw.decode("utf-8")
            encoded = None
        except UnicodeDecodeError:
            text, encoded = None, base64.b64encode(raw).decode("ascii")
        record = {
            "time": format_timestamp(datetime.now(UTC)),
            "source": source,
            "position": position,
            "stage": stage,
            "parser": parser,
            "reason": reason,
            "original": text,
            "original_base64": encoded,
        }
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_dead_letters(path: Path) -> list[dict[str, object]]:
    """Every dead letter in a file (for tests and ``tulou detect`` reports)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
