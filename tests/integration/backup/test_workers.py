"""Worker processes hold the data and id keys: they die with their parent, also after a real
``kill -9`` of a backup (issue 23 finding 5), whichever way they were started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.integration.backup.conftest import PASSPHRASE

ROOT = Path(__file__).resolve().parents[3]

#: A real backup in a child process; after its first pack is stored it reports and waits, its
#: worker processes running, until the test kills it.
_SCRIPT = """
import os, sys, threading, time
from pathlib import Path
from backup import policy, service
from backup.repository import Repository
from backup.targets.local import LocalTarget

repo_dir, src, extra_thread = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
Repository.init(LocalTarget(repo_dir), os.environ["TULOU_BACKUP_PASSPHRASE"],
                kdf_iterations=1000)
if extra_thread:  # a running thread makes the pool start workers through a forkserver
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()

def hook(repo):
    repo.set_pack_size(256 << 10)
    def stored(pack_id):
        print("stored", flush=True)
        time.sleep(3600)
    repo.on_pack_saved = stored

service.run(policy.single_site(str(repo_dir)), os.environ["TULOU_BACKUP_PASSPHRASE"],
            paths=[src], hook=hook)
"""


def _children() -> dict[int, int]:
    """pid -> parent pid of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            table[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def _descendants(pid: int) -> set[int]:
    table = _children()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in table.items() if pp == parent]
        found.update(kids)
        todo.extend(kids)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_workers_die_after_kill_9_of_the_backup(tmp_path: Path, start: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"part-{i}.bin").write_bytes(os.urandom(300 << 10))
    env = {
        **os.environ,
        "TULOU_BACKUP_PASSPHRASE": PASSPHRASE,
        "TULOU_BACKUP_EXECUTOR": "processes",
        "TULOU_BACKUP_WORKERS": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT), str(tmp_path / "repo"), str(src),
         "1" if start == "forkserver" else "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    workers: set[int] = set()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "stored"
        # The pool's workers, and the forkserver and resource tracker where those start.
        workers = _descendants(proc.pid)
        assert len(workers) >= 2, workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.05)
        survivors = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in workers if _alive(p)}
        assert not survivors, f"processes outlived the backup: {survivors}"
    finally:
        proc.stdout.close() if proc.stdout else None
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers | _descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
