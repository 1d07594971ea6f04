"""Login hardening: account lockout after repeated wrong passwords, and a per-address throttle.

- **Account lockout** (in the database, so every worker process sees it): after
  :data:`MAX_FAILURES` wrong passwords in a row the account is locked for :data:`LOCK_MINUTES`;
  while locked even the right password is refused (so an attacker learns nothing from trying
  it), and a good login resets the count. Unknown user names cost a password check and are
  throttled by address like known ones, so a locked account cannot be told from an unknown one
  by timing.
- **Address throttle** (per process, in memory): at most :data:`ADDRESS_BURST` failures per
  :data:`ADDRESS_WINDOW` seconds from one client address; more are refused before any password
  is checked. It spreads a password-spraying run over accounts thin.

Every outcome is written to the audit trail by the caller (``auth.login`` / ``auth.failure``),
refusals included, with the client address.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime, timedelta

MAX_FAILURES = 5
LOCK_MINUTES = 15
ADDRESS_BURST = 20
ADDRESS_WINDOW = 60.0


def locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


def after_failure(failures: int, now: datetime) -> tuple[int, datetime | None]:
    """(new failure count, locked until or None) after one more wrong password."""
    failures += 1
    if failures >= MAX_FAILURES:
        return failures, now + timedelta(minutes=LOCK_MINUTES)
    return failures, None


def minutes_left(locked_until: datetime, now: datetime) -> int:
    return max(1, int((locked_until - now).total_seconds() // 60) + 1)


class AddressThrottle:
    """Failures per client address in a sliding window (thread-safe; per process)."""

    def __init__(self, burst: int = ADDRESS_BURST, window: float = ADDRESS_WINDOW) -> None:
        self.burst = burst
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def allowed(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(address, now)
            if not times:
                self._failures.pop(address, None)
            return len(times) < self.burst

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(address, now).append(now)
            if len(self._failures) > 100_000:  # bounded: forget the quietest addresses
                for key in list(self._failures)[:10_000]:
                    del self._failures[key]
