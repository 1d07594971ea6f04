"""Repository locks: shared holders coexist, exclusive excludes, stale locks are cleared."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from backup import lock
from backup.targets.memory import MemoryTarget
from tulou.errors import UnavailableError


def test_shared_locks_coexist_and_exclusive_waits() -> None:
    target = MemoryTarget()
    with lock.acquire(target, exclusive=False), lock.acquire(target, exclusive=False):
        assert len(lock.locks(target)) == 2
        with pytest.raises(UnavailableError, match="locked"), lock.acquire(target, exclusive=True):
            pass
    assert lock.locks(target) == []
    with lock.acquire(target, exclusive=True):
        with pytest.raises(UnavailableError), lock.acquire(target, exclusive=False):
            pass
        assert len(lock.locks(target)) == 1  # the loser removed its own lock


def test_lock_of_a_dead_process_is_stale() -> None:
    target = MemoryTarget()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    document = {
        "version": 1,
        "time": time.time(),
        "exclusive": True,
        "hostname": socket.gethostname(),
        "pid": int(dead.stdout),
        "nonce": "x",
    }
    target.save("locks", "ef" * 32, json.dumps(document).encode())
    with lock.acquire(target, exclusive=True):
        pass
    assert lock.locks(target) == []


def test_unlock_all_removes_live_locks() -> None:
    target = MemoryTarget()
    document = {
        "version": 1,
        "time": time.time(),
        "exclusive": False,
        "hostname": "elsewhere",
        "pid": 1,
        "nonce": "y",
    }
    target.save("locks", "ab" * 32, json.dumps(document).encode())
    assert lock.unlock(target) == 0
    assert lock.unlock(target, all_locks=True) == 1
