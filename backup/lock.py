"""Repository locks: many shared holders (backup, restore, verify, copy) or one exclusive
holder (forget, prune, repair).

A lock is a file ``locks/<SM3 of content>`` holding plaintext JSON ``{"version": 1, "time",
"exclusive", "hostname", "pid", "nonce"}`` (it reveals the host name and pid; nothing else).
Taking a lock writes ours first, then lists the others: if any conflicts, ours is removed and
:class:`UnavailableError` names the holder. Two processes racing both see each other and both
back off, never both proceed. A lock older than :data:`STALE_AFTER` seconds whose holder is on
this host and no longer runs is stale and removed; any other lock is only removed by
``tulou backup unlock``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backup.keys import canonical
from backup.targets.base import Target
from crypto import sm3
from tulou.errors import NotFoundError, UnavailableError

STALE_AFTER = 30 * 60


@dataclass(frozen=True)
class LockInfo:
    name: str
    time: float
    exclusive: bool
    hostname: str
    pid: int

    def stale(self, now: float) -> bool:
        if self.hostname == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return now - self.time > STALE_AFTER * 4


def _read(target: Target, name: str) -> LockInfo | None:
    try:
        data: dict[str, Any] = json.loads(target.load("locks", name))
        return LockInfo(
            name,
            float(data["time"]),
            bool(data["exclusive"]),
            str(data["hostname"]),
            int(data["pid"]),
        )
    except NotFoundError:
        return None
    except (KeyError, TypeError, ValueError):
        # An unreadable lock blocks like an exclusive one; `unlock` clears it.
        return LockInfo(name, time.time(), True, "?", -1)


def locks(target: Target) -> list[LockInfo]:
    found = [_read(target, info.name) for info in target.list("locks")]
    return [lock for lock in found if lock is not None]


@contextlib.contextmanager
def acquire(target: Target, *, exclusive: bool) -> Iterator[LockInfo]:
    """Hold a lock for the duration of the ``with`` block."""
    document = canonical(
        {
            "version": 1,
            "time": time.time(),
            "exclusive": exclusive,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "nonce": secrets.token_hex(8),
        }
    )
    name = sm3.sm3(document).hex()
    try:
        target.save("locks", name, document)
    except UnavailableError as exc:
        raise UnavailableError(
            f"{exc} (cannot take a lock; reading from read-only or WORM media? "
            "`--no-lock` reads without one)"
        ) from exc
    try:
        now = time.time()
        for other in locks(target):
            if other.name == name:
                continue
            if other.stale(now):
                with contextlib.suppress(NotFoundError):
                    target.remove("locks", other.name)
                continue
            if exclusive or other.exclusive:
                kind = "exclusively" if other.exclusive else "shared"
                raise UnavailableError(
                    f"{target.location} is locked {kind} by pid {other.pid} on {other.hostname} "
                    f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(other.time))}; "
                    "wait, or run `tulou backup unlock` if that process is gone"
                )
        info = _read(target, name)
        assert info is not None  # we just wrote it
        yield info
    finally:
        with contextlib.suppress(NotFoundError):
            target.remove("locks", name)


def unlock(target: Target, *, all_locks: bool = False) -> int:
    """Remove stale locks (or every lock with ``all_locks``); return how many."""
    removed = 0
    now = time.time()
    for lock in locks(target):
        if all_locks or lock.stale(now):
            with contextlib.suppress(NotFoundError):
                target.remove("locks", lock.name)
            removed += 1
    return removed
