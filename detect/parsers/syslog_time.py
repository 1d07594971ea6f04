"""Local syslog times: RFC 3164 stamps carry neither a zone nor a year.

``Mar  3 10:00:01`` is a wall-clock time where the log was written. :class:`LocalClock` says
how to read it for one source:

- ``zone``: the IANA time zone of the host that wrote it (default :data:`DEFAULT_TIMEZONE`,
  the city's zone; a fixed ``UTC`` for hosts that log in UTC);
- ``year``: when set, every line is in that year (a ``Feb 29`` in a year without one is
  refused: the line goes to the dead letters with that reason);
- otherwise the year is inferred per line, from ``reference`` (epoch seconds: the file's
  modification time when a file is ingested, "now" when a log is tailed): the latest year in
  which the line's time is no later than one day after the reference. A log that runs over a
  New Year and was last written in January gets December lines in the previous year and
  January lines in the current one; a ``Feb 29`` goes to the latest leap year that fits.

Inference is per line (no state carried from line to line), so a log parsed in chunks by
several worker processes gets exactly the stamps a single pass gives.
"""

from __future__ import annotations

import time
from calendar import isleap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The city's zone: what a clock without a zone means unless a source says otherwise.
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: How far after the reference a line may be (clocks drift; writes are buffered).
SLACK = timedelta(days=1)
#: Years looked back for a date that exists (Feb 29: up to 8 years around 2100).
_LOOKBACK = 8
_CACHE_MAX = 1 << 16


@lru_cache(maxsize=64)
def zone_named(name: str) -> ZoneInfo:
    """The zone called ``name``; ``ValueError`` naming it if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        ) from None


@dataclass(frozen=True)
class LocalClock:
    """How to read zone-less, year-less syslog times of one source (see the module docstring)."""

    zone: str = DEFAULT_TIMEZONE
    year: int | None = None
    reference: float | None = None
    #: Set in ``__post_init__``: see there.
    minutes: dict[tuple[str, str, str], str] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        zone_named(self.zone)  # refuse an unknown zone when the clock is made, not per line
        if self.year is not None and not 1 <= self.year <= 9998:
            raise ValueError(f"year {self.year} out of range")
        # UTC minute prefixes by (month, day, "HH:MM"): lines share minutes. Only with a fixed
        # year or reference ("now" moves). Not pickled (see __reduce__): a clock sent to a
        # parse worker stays small.
        fixed = self.year is not None or self.reference is not None
        object.__setattr__(self, "_prefixes", {} if fixed else None)
        #: The same prefixes by the header's own text (``"Mar"``, ``" 3"``/``"3"``, ``"10:00"``),
        #: for the syslog parser's hot path: no month lookup, no int(), no call on a hit.
        object.__setattr__(self, "minutes", {} if fixed else None)

    def __reduce__(self) -> tuple[type[LocalClock], tuple[str, int | None, float | None]]:
        return (LocalClock, (self.zone, self.year, self.reference))

    def stamp(self, month: int, day: int, clock: str) -> str:
        """The RFC 3339 UTC stamp of ``clock`` (``HH:MM:SS``) on ``month``/``day``.

        ``ValueError`` for a date or time that does not exist (``Feb 30``, ``24:00:00``, a
        ``Feb 29`` in a given year without one).
        """
        cache: dict[tuple[int, int, str], str] | None = self._prefixes  # type: ignore[attr-defined]
        key = (month, day, clock[:5])
        prefix = cache.get(key) if cache is not None else None
        if prefix is not None and clock[6] < "6":  # a cached minute is a valid one
            return f"{prefix}{clock[6:8]}.000Z"
        if not (clock < "24" and clock[3] < "6" and clock[6] < "6"):
            raise ValueError(f"time {clock} out of range")
        if prefix is None:
            prefix = self._minute(month, day, int(clock[:2]), int(clock[3:5]))
            if cache is not None:
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                cache[key] = prefix
        return f"{prefix}{clock[6:8]}.000Z"

    def convert(self, year: int, month: int, day: int, clock: str) -> str:
        """The RFC 3339 UTC stamp of a local time whose year is known (web error logs)."""
        if not (clock < "24" and clock[3] < "6" and clock[6] < "6"):
            raise ValueError(f"time {clock} out of range")
        local = datetime(year, month, day, int(clock[:2]), int(clock[3:5]), int(clock[6:8]))
        utc = local.replace(tzinfo=zone_named(self.zone)).astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _minute(self, month: int, day: int, hour: int, minute: int) -> str:
        """``YYYY-MM-DDTHH:MM:`` in UTC of that local minute."""
        zone = zone_named(self.zone)
        year = self.year if self.year is not None else self._infer(month, day, hour, minute, zone)
        if month == 2 and day == 29 and not isleap(year):
            raise ValueError(f"Feb 29 in {year}, which is not a leap year")
        local = datetime(year, month, day, hour, minute, tzinfo=zone)
        return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:")

    def _infer(self, month: int, day: int, hour: int, minute: int, zone: ZoneInfo) -> int:
        reference = self.reference if self.reference is not None else time.time()
        latest = datetime.fromtimestamp(reference, zone) + SLACK
        for year in range(latest.year, latest.year - _LOOKBACK, -1):
            try:
                moment = datetime(year, month, day, hour, minute, tzinfo=zone)
            except ValueError:  # Feb 29 in a common year, or no such day at all
                continue
            if moment <= latest:
                return year
        raise ValueError(f"no year in which {month:02d}-{day:02d} exists")


UTC_CLOCK = LocalClock(zone="UTC")
