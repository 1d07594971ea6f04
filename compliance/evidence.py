"""Evidence: typed facts with links to where they came from, and the collectors that gather them.

A *collector* reads one kind of live data (the gateway audit log, the key store, the SOC
database, the event store, the backup sites) for a reporting period and returns
:class:`Evidence` items. Each item has a stable ``key`` (``gateway.coverage``), the facts as
JSON values, and links to the underlying records (``file://...#line=12``, ``soc://cases/7``) so a
regulator can ask for them.

The seam has the four parts of every seam in Tulou: the :class:`Collector` protocol, the
:class:`CollectorRegistry` keyed by stable ids, an in-memory fake (:class:`StaticCollector`) and
the conformance suite in ``tests/unit/compliance/test_reports_collectors.py``.

Bulk collection collects problems: a collector that fails yields *unavailable* evidence with the
reason, never an exception that loses the other collectors' work (deny by default: a clause
whose evidence is unavailable is judged ``not_met``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from compliance.period import Period
from tulou.errors import TulouError, UsageError


@dataclass(frozen=True, slots=True)
class EvidenceLink:
    """Where a fact can be checked: a label for people and a URI (``file:``, ``soc:``, ...)."""

    label: str
    href: str

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "href": self.href}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of evidence.

    ``facts`` holds JSON values only (str, int, float, bool, None, lists and dicts of those).
    ``available`` is False when the source could not be read; ``problem`` then says why and
    ``facts`` is empty. ``vouched_by`` names the evidence of the record chain that vouches for
    these facts (the SOC's facts: ``soc.audit_chain``, which vouches for itself): when that
    chain does not verify, the judge treats these facts as tampered with.
    """

    key: str
    collector: str
    title: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[EvidenceLink, ...] = ()
    available: bool = True
    problem: str = ""
    vouched_by: str = ""

    def fact(self, name: str) -> Any:
        return self.facts.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "collector": self.collector,
            "title": self.title,
            "available": self.available,
            "problem": self.problem,
            "facts": dict(self.facts),
            "links": [link.to_dict() for link in self.links],
            "vouched_by": self.vouched_by,
        }

    @classmethod
    def unavailable(cls, key: str, collector: str, problem: str) -> Evidence:
        return cls(key=key, collector=collector, title=key, available=False, problem=problem)


@runtime_checkable
class Collector(Protocol):
    """Gathers evidence over live data for one reporting period.

    Contract:

    - ``id`` is a stable, unique string (the registry key); ``keys`` lists every evidence key the
      collector MUST return, each exactly once, whatever the data holds.
    - ``collect`` MUST NOT write to its sources, and MUST return evidence with ``available=False``
      and the reason (not raise) when a source is missing or unreadable, so that one broken source
      never hides the others. It MAY raise :class:`tulou.errors.TulouError` for a bug in its own
      configuration; the registry turns that into unavailable evidence too.
    - facts MUST be JSON values, and counts MUST cover the period only where the key says so.
    """

    id: str
    keys: tuple[str, ...]

    def collect(self, period: Period) -> list[Evidence]: ...


class EvidenceBag(Mapping[str, Evidence]):
    """The evidence of one report, by key. A missing key reads as unavailable evidence."""

    def __init__(self, items: Iterable[Evidence] = ()) -> None:
        self._items: dict[str, Evidence] = {}
        for item in items:
            if item.key in self._items:
                raise UsageError(f"evidence {item.key!r} was collected twice")
            self._items[item.key] = item

    def __getitem__(self, key: str) -> Evidence:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def need(self, key: str) -> Evidence:
        """The evidence under ``key``, or unavailable evidence saying nobody collected it."""
        found = self._items.get(key)
        if found is None:
            return Evidence.unavailable(key, "-", "no collector provided this evidence")
        return found


class CollectorRegistry:
    """Collectors by stable id, in registration order (the order of the report's annex)."""

    def __init__(self) -> None:
        self._collectors: dict[str, Collector] = {}

    def register(self, collector: Collector) -> None:
        if collector.id in self._collectors:
            raise UsageError(f"collector {collector.id!r} is already registered")
        self._collectors[collector.id] = collector

    def __contains__(self, collector_id: object) -> bool:
        return collector_id in self._collectors

    def ids(self) -> list[str]:
        return list(self._collectors)

    def collectors(self) -> list[Collector]:
        return list(self._collectors.values())

    def collect(self, period: Period) -> EvidenceBag:
        """Run every collector; failures become unavailable evidence (problems are collected)."""
        items: list[Evidence] = []
        for collector in self._collectors.values():
            try:
                found = collector.collect(period)
            except (TulouError, OSError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                found = [Evidence.unavailable(k, collector.id, reason) for k in collector.keys]
            by_key = {e.key: e for e in found}
            for key in collector.keys:
                items.append(
                    by_key.get(key)
                    or Evidence.unavailable(key, collector.id, "the collector returned nothing")
                )
        return EvidenceBag(items)


class StaticCollector:
    """In-memory fake: returns the evidence it was given (for tests of the judge and renderer)."""

    def __init__(self, collector_id: str, evidence: Iterable[Evidence]) -> None:
        self.id = collector_id
        self._evidence = list(evidence)
        self.keys = tuple(e.key for e in self._evidence)

    def collect(self, period: Period) -> list[Evidence]:
        return list(self._evidence)
