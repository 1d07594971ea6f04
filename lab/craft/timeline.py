"""When crafted events happen: stamps spread over a short span starting now, never in the future.

A scenario's events must fall inside its window ``[start of play, end of ingest)``. Syslog
stamps have one-second precision, so a scenario that needs order across lines (a failure, then
a success) spreads them over a second or two and waits until the last stamp has passed before
it returns: nothing is ingested with a time still ahead of the clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def spread(start: datetime, count: int, span: float) -> list[datetime]:
    """``count`` moments from ``start`` to ``start + span`` seconds, evenly spaced."""
    if count <= 1:
        return [start] * count
    step = span / (count - 1)
    return [start + timedelta(seconds=i * step) for i in range(count)]


def wait_until(moment: datetime) -> None:
    """Sleep until the wall clock has passed ``moment``."""
    while (now := datetime.now(UTC)) < moment:
        time.sleep(min(0.1, (moment - now).total_seconds()) + 0.001)
