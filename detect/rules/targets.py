"""The RuleTarget seam: a store that base rules run on, its capabilities and its registry.

Contract of every target (tests/unit/detect/rules/target_conformance.py checks it on the memory
fake and SQLite, tests/integration/detect/test_rules_target_conformance.py on Elasticsearch):

- ``name`` is the store kind (``"sqlite"``, ``"elasticsearch"``, ``"memory"``) and
  ``backend()`` returns a fresh pySigma backend whose queries ``matches`` accepts.
- ``prepare(fields)`` MUST make every listed field addressable (a field no event has matches
  nothing; it MUST NOT make a query fail).
- ``matches(rule_id, query, start, end, fields)`` MUST return every event with
  ``start <= @timestamp < end`` that satisfies ``query``, once each, ordered by
  (``@timestamp``, ``event.id``), as :class:`~detect.rules.correlation.Match` values carrying
  the listed ``fields`` as stored (lists as lists). A query the store refuses raises
  :class:`~tulou.errors.InputError` naming the rule.
- ``distinct(field, start, end)`` MUST return the lowercase string forms of the values the
  field takes in the range (used to skip rules whose log source is absent), or a set holding
  ``"*"`` when it cannot tell (then no rule is skipped on that field).

Optional capability (checked with ``isinstance``, never ``hasattr``):

- :class:`MatchesInBatches`: ``matches_batch`` runs many rules of one log source together with
  exactly the result of ``matches`` per rule; ``batch_without_source`` says whether rules
  without a log-source condition are worth batching too (shared round trips on Elasticsearch;
  on SQLite such a batch would scan the whole range).

Targets are made by :func:`default_targets` from an open store, keyed by the kind of its URL
(:func:`store_kind`, the one URL grammar of :mod:`tulou.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sigma.conversion.base import Backend
from sigma.processing.pipeline import ProcessingPipeline

from detect.rules.correlation import Match
from tulou.errors import ConfigError
from tulou.registry import Registry, split_url


@runtime_checkable
class RuleTarget(Protocol):
    name: str

    def backend(self) -> Backend: ...

    def prepare(self, fields: Sequence[str]) -> None: ...

    def matches(
        self, rule_id: str, query: Any, start: datetime, end: datetime, fields: Sequence[str]
    ) -> list[Match]: ...

    def distinct(self, field: str, start: datetime, end: datetime) -> set[str]: ...


@runtime_checkable
class MatchesInBatches(Protocol):
    """A target that runs rules of one log source together (see the module docstring)."""

    batch_without_source: bool

    def matches_batch(
        self,
        items: Sequence[tuple[str, Any]],
        requires: Mapping[str, frozenset[str]],
        start: datetime,
        end: datetime,
        fields: Sequence[str],
        *,
        literals: Sequence[Any] | None = None,
        errors: dict[str, str] | None = None,
    ) -> dict[str, list[Match]]: ...


type TargetFactory = Callable[[Any, ProcessingPipeline], RuleTarget]

#: URL scheme of an event store -> the kind of rule target it takes.
_KINDS = {
    "sqlite": "sqlite",
    "memory": "memory",
    "http": "elasticsearch",
    "https": "elasticsearch",
    "elasticsearch+http": "elasticsearch",
    "elasticsearch+https": "elasticsearch",
}


def store_kind(url: str) -> str:
    """The target kind for an event store URL (``sqlite:``, ``memory:``, Elasticsearch)."""
    scheme = split_url(url).scheme
    kind = _KINDS.get(scheme)
    if kind is None:
        raise ConfigError(f"rules cannot run on a {scheme!r} store")
    return kind


def _sqlite(store: Any, pipeline: ProcessingPipeline) -> RuleTarget:
    from detect.rules.sqlite_target import SqliteRuleTarget  # noqa: PLC0415 - on use only

    return SqliteRuleTarget(store, pipeline)


def _elasticsearch(store: Any, pipeline: ProcessingPipeline) -> RuleTarget:
    from detect.rules.es_target import EsRuleTarget  # noqa: PLC0415 - the ES client is heavy

    return EsRuleTarget.for_store(store, pipeline)


def _memory(store: Any, pipeline: ProcessingPipeline) -> RuleTarget:
    from detect.rules.memory_target import MemoryRuleTarget  # noqa: PLC0415

    return MemoryRuleTarget(store, pipeline)


def default_targets() -> Registry[TargetFactory]:
    """The built-in rule targets, by store kind (explicit: nothing registers on import)."""
    return Registry(
        "rule target",
        [("sqlite", _sqlite), ("elasticsearch", _elasticsearch), ("memory", _memory)],
    )


def target_for(
    url: str,
    store: Any,
    pipeline: ProcessingPipeline,
    registry: Registry[TargetFactory] | None = None,
) -> RuleTarget:
    """The rule target over ``store``, opened from ``url``."""
    return (registry or default_targets()).get(store_kind(url))(store, pipeline)
