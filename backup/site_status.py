"""What ``tulou backup run`` and ``verify`` record for the reports: the backup site status
(format :mod:`tulou.contracts.backup_status`, ``<data_dir>/backup/sites.json``).

The status names the algorithms this repository format uses (docs/backup.md): blobs, pack
headers, indexes and snapshot bodies are sealed with SM4-GCM; content is addressed by keyed SM3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tulou.contracts import backup_status

CIPHER = "SM4-GCM"
DIGEST = "SM3"


def after_run(data_dir: Path, result: dict[str, Any]) -> None:
    """Note the new snapshot at every site that now holds it (written or copied)."""
    file = backup_status.path(data_dir)
    for site, state in result["sites"].items():
        if state == "written" or str(state).startswith("copied"):
            backup_status.record_snapshot(
                file, site, result["snapshot"], result["time"], cipher=CIPHER, digest=DIGEST
            )


def after_verify(data_dir: Path, result: dict[str, Any]) -> None:
    """Note the outcome of ``verify`` at its site (also a failed one)."""
    backup_status.record_verification(
        backup_status.path(data_dir),
        result["site"],
        ok=bool(result["ok"]),
        read_data=bool(result["read_data"]),
        snapshots=int(result["snapshots"]),
        problems=len(result["errors"]),
        cipher=CIPHER,
        digest=DIGEST,
    )


def after_failed_verify(data_dir: Path, site: str, *, read_data: bool) -> None:
    """Note a verification that could not run to the end (no repository, site unreachable)."""
    backup_status.record_verification(
        backup_status.path(data_dir),
        site,
        ok=False,
        read_data=read_data,
        snapshots=0,
        problems=1,
        cipher=CIPHER,
        digest=DIGEST,
    )
