"""Finding 2: the demo's watcher follows the gateway audit log from its end, so the scenarios'
lines (already ingested) are not stored a second time. Runs the real ``tulou detect tail``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from detect.stores import open_store
from lab.demo import follow_from_end


def line(n: int) -> bytes:
    return (
        json.dumps(
            {
                "@timestamp": f"2026-03-01T08:00:{n:02d}.000+08:00",
                "event": {
                    "module": "gateway",
                    "kind": "event",
                    "action": "access",
                    "outcome": "failure",
                },
                "user": {"name": "bob"},
                "source": {"ip": "10.2.0.9"},
                "url": {"path": f"/admin/{n}"},
            }
        ).encode()
        + b"\n"
    )


def tail_once(audit: Path, data_dir: Path, store: str) -> None:
    env = {**os.environ, "TULOU_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tulou",
            "detect",
            "tail",
            str(audit),
            "--format",
            "gateway.audit",
            "--store",
            store,
            "--once",
        ],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def stored(store: str) -> list[str]:
    handle = open_store(store)
    try:
        from detect.stores.base import Query

        return sorted(str(e["url.path"]) for e in handle.search(Query(limit=100)))
    finally:
        handle.close()


def test_the_tail_reads_only_what_is_written_after_the_scenarios(tmp_path):
    audit = tmp_path / "audit.jsonl"
    audit.write_bytes(line(1) + line(2) + line(3)[:20])  # a partial last line
    data = tmp_path / "var"
    offset = follow_from_end(audit, data / "detect" / "tail")
    assert offset == len(line(1) + line(2))  # the partial line is read when it completes
    with audit.open("ab") as handle:
        handle.write(line(3)[20:] + line(4))
    store = f"sqlite:///{tmp_path / 'events.db'}"
    tail_once(audit, data, store)
    assert stored(store) == ["/admin/3", "/admin/4"]


def test_without_it_the_tail_rereads_the_whole_log(tmp_path):
    # The behaviour the demo had: every line the scenarios played is read (and stored) again.
    audit = tmp_path / "audit.jsonl"
    audit.write_bytes(line(1) + line(2))
    store = f"sqlite:///{tmp_path / 'events.db'}"
    tail_once(audit, tmp_path / "var", store)
    assert stored(store) == ["/admin/1", "/admin/2"]
