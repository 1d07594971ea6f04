"""The backup site status file: its writers, its reader and concurrent updates
(tulou/contracts/backup_status.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tulou.contracts import backup_status
from tulou.errors import InputError

ALGS = {"cipher": "SM4-GCM", "digest": "SM3"}


def test_snapshot_then_verification_read_back(tmp_path: Path) -> None:
    file = backup_status.path(tmp_path)
    backup_status.record_snapshot(file, "a", "s1", "2026-03-01T10:00:00.5Z", **ALGS)
    backup_status.record_verification(
        file, "a", ok=False, read_data=True, snapshots=3, problems=2, **ALGS
    )
    backup_status.record_snapshot(file, "b", "s1", "2026-03-01T10:00:00.5Z", **ALGS)
    status = backup_status.load(file)
    assert (status.cipher, status.digest) == ("SM4-GCM", "SM3")
    a, b = status.sites
    assert (a.name, a.last_snapshot_id, a.last_verified.ok, a.last_verified.problems) == (  # type: ignore[union-attr]
        "a",
        "s1",
        False,
        2,
    )
    assert b.last_verified is None
    assert not list(file.parent.glob(".sites-*"))  # no temporary file left behind


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    file = backup_status.path(tmp_path)

    def write(n: int) -> None:
        backup_status.record_snapshot(file, f"site-{n}", f"s{n}", "2026-03-01T10:00:00Z", **ALGS)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(backup_status.load(file).sites) == 12


def test_a_time_the_reader_could_not_read_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        backup_status.record_snapshot(backup_status.path(tmp_path), "a", "s", "noon", **ALGS)


@pytest.mark.parametrize(
    "content",
    ["", "[]", json.dumps({"sites": {}}), json.dumps({"format": backup_status.FORMAT})],
)
def test_malformed_status_is_an_input_error(tmp_path: Path, content: str) -> None:
    file = tmp_path / "sites.json"
    file.write_text(content)
    with pytest.raises(InputError):
        backup_status.load(file)


def test_a_damaged_file_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    file = backup_status.path(tmp_path)
    file.parent.mkdir(parents=True)
    file.write_text("{not json")
    backup_status.record_snapshot(file, "a", "s", "2026-03-01T10:00:00Z", **ALGS)
    assert [s.name for s in backup_status.load(file).sites] == ["a"]
