"""Backup site status (format ``tulou-backup-sites/1``): per site, the newest snapshot written
there and the newest verification of its repository.

Writer: ``tulou backup run`` (after the snapshot is written and copied) and ``tulou backup
verify`` (after the check), through :func:`record_snapshot` and :func:`record_verification`.
Reader: the compliance report's backup clauses, through :func:`load`. Contract test:
tests/integration/contracts/test_drill_record.py runs the real backup commands and the real
report.

File ``<data_dir>/backup/sites.json`` (:func:`path`), one JSON object::

    {"format": "tulou-backup-sites/1", "cipher": "SM4-GCM", "digest": "SM3",
     "updated_at": ISO-8601,
     "sites": {NAME: {"last_snapshot": {"id", "time", "recorded_at"} | null,
                      "last_verified": {"at", "ok", "read_data", "snapshots",
                                        "problems"} | null}}}

Updates are read-modify-write under an exclusive ``flock`` on ``sites.json.lock`` and replace the
file atomically (temp file + rename), so concurrent backups never lose each other's entries and
a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tulou.errors import InputError
from tulou.events import parse_timestamp

FORMAT = "tulou-backup-sites/1"


def path(data_dir: Path) -> Path:
    return data_dir / "backup" / "sites.json"


@dataclass(frozen=True, slots=True)
class Verification:
    at: datetime
    ok: bool
    read_data: bool
    snapshots: int
    problems: int


@dataclass(frozen=True, slots=True)
class SiteStatus:
    name: str
    last_snapshot_id: str | None
    last_snapshot_at: datetime | None
    last_verified: Verification | None


@dataclass(frozen=True, slots=True)
class BackupStatus:
    cipher: str
    digest: str
    updated_at: datetime | None
    sites: tuple[SiteStatus, ...]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _empty() -> dict[str, Any]:
    return {"format": FORMAT, "sites": {}}


@contextmanager
def _update(file: Path, cipher: str, digest: str) -> Iterator[dict[str, Any]]:
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_name(file.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = _read_raw(file) if file.exists() else _empty()
        except InputError:
            data = _empty()  # a damaged status is rebuilt from now on, never trusted
        yield data
        data.update(cipher=cipher, digest=digest, updated_at=_now())
        fd, temporary = tempfile.mkstemp(dir=file.parent, prefix=".sites-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def record_snapshot(
    file: Path,
    site: str,
    snapshot_id: str,
    time: str,
    *,
    cipher: str,
    digest: str,
) -> None:
    """Note that ``snapshot_id`` (taken at ``time``) is now stored at ``site``; ``cipher`` and
    ``digest`` name the algorithms the repository seals and addresses content with."""
    parse_timestamp(time)  # refuse to write what the reader could not read
    with _update(file, cipher, digest) as data:
        entry = data["sites"].setdefault(site, {"last_snapshot": None, "last_verified": None})
        entry["last_snapshot"] = {"id": snapshot_id, "time": time, "recorded_at": _now()}


def record_verification(
    file: Path,
    site: str,
    *,
    ok: bool,
    read_data: bool,
    snapshots: int,
    problems: int,
    cipher: str,
    digest: str,
) -> None:
    """Note the outcome of a verification of the repository at ``site`` (now)."""
    with _update(file, cipher, digest) as data:
        entry = data["sites"].setdefault(site, {"last_snapshot": None, "last_verified": None})
        entry["last_verified"] = {
            "at": _now(),
            "ok": ok,
            "read_data": read_data,
            "snapshots": snapshots,
            "problems": problems,
        }


def _read_raw(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read backup site status: {exc}", location=str(file)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} document", location=str(file))
    if not isinstance(data.get("sites"), dict):
        raise InputError("backup site status without sites", location=str(file))
    return data


def _time(value: Any) -> datetime | None:
    return None if value is None else parse_timestamp(str(value))


def load(file: Path) -> BackupStatus:
    """The status document, typed. Raises :class:`InputError` if it is missing or malformed."""
    data = _read_raw(file)
    try:
        sites = []
        for name, entry in sorted(data["sites"].items()):
            if not isinstance(entry, Mapping):
                raise TypeError(f"site {name!r} is not an object")
            snap = entry.get("last_snapshot") or {}
            ver = entry.get("last_verified")
            sites.append(
                SiteStatus(
                    name=str(name),
                    last_snapshot_id=None if not snap else str(snap["id"]),
                    last_snapshot_at=_time(snap.get("time")) if snap else None,
                    last_verified=None
                    if not ver
                    else Verification(
                        at=parse_timestamp(str(ver["at"])),
                        ok=ver.get("ok") is True,
                        read_data=ver.get("read_data") is True,
                        snapshots=int(ver.get("snapshots", 0)),
                        problems=int(ver.get("problems", 0)),
                    ),
                )
            )
        return BackupStatus(
            cipher=str(data.get("cipher", "")),
            digest=str(data.get("digest", "")),
            updated_at=_time(data.get("updated_at")),
            sites=tuple(sites),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed backup site status: {exc}", location=str(file)) from None
