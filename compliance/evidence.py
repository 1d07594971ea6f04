"""Evidence: typed facts with the records they rest on, and the collectors that gather them.

A *collector* reads one kind of live data (the gateway audit log, the key store, the SOC
database, the event store, the backup sites) for a reporting period and returns
:class:`Evidence` items. Each item has a stable ``key`` (``gateway.coverage``), the facts as
JSON values, and :class:`Excerpt` values: the underlying records themselves, bundled into the
report (a regulator cannot open a path on the machine that made it), each with its SM3 digest
and, when it comes from a file, the SM3 digest of the whole file at collection time, so the
operator can be asked for that file and the excerpt checked against it.

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
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from compliance.period import Period
from tulou.errors import TulouError, UsageError

#: The longest excerpt kept (characters); longer records are cut, and the cut marked.
MAX_EXCERPT = 800


@dataclass(frozen=True, slots=True)
class Excerpt:
    """A record the facts rest on, bundled into the report.

    ``source`` names where it comes from as the operator knows it, never as a path on this
    machine (``audit.jsonl``, ``soc:cases/7``); ``locator`` says where inside (``line 12``).
    ``sm3`` is the digest of ``text`` (UTF-8); ``source_sm3`` that of the whole source file
    when collected (empty when the source is not a file, or is a private key).
    """

    label: str
    source: str
    text: str
    sm3: str
    locator: str = ""
    source_sm3: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "label": self.label,
            "source": self.source,
            "locator": self.locator,
            "text": self.text,
            "sm3": self.sm3,
            "source_sm3": self.source_sm3,
        }


def excerpt(
    label: str, source: str, text: str, *, locator: str = "", source_sm3: str = ""
) -> Excerpt:
    """An excerpt of ``text`` (cut to :data:`MAX_EXCERPT` characters), its SM3 computed."""
    from crypto.sm3 import sm3  # noqa: PLC0415 - kept out of the module's import-time cost

    if len(text) > MAX_EXCERPT:
        text = text[: MAX_EXCERPT - 1] + "…"
    return Excerpt(label, source, text, sm3(text.encode()).hex(), locator, source_sm3)


def file_sm3(path: Path) -> str:
    """SM3 of a whole file (empty when it cannot be read)."""
    from crypto.sm3 import sm3  # noqa: PLC0415

    try:
        return sm3(path.read_bytes()).hex()
    except OSError:
        return ""


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
    excerpts: tuple[Excerpt, ...] = ()
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
            "excerpts": [item.to_dict() for item in self.excerpts],
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
