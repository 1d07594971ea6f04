"""The RuleTarget seam: a store that base rules run on.

Contract (checked by tests/unit/detect/test_rules_targets.py against every target):

- ``name`` is the store kind (``"sqlite"``, ``"elasticsearch"``) and ``backend()`` returns a
  fresh pySigma backend whose queries ``matches`` accepts.
- ``prepare(fields)`` MUST make every listed field addressable (a field no event has matches
  nothing; it MUST NOT make a query fail).
- ``matches(query, start, end, fields)`` MUST return every event with
  ``start <= @timestamp < end`` that satisfies ``query``, once each, ordered by
  (``@timestamp``, ``event.id``), as :class:`~detect.rules.correlation.Match` values carrying
  the listed ``fields`` as stored (lists as lists).
- ``distinct(field, start, end)`` MUST return the lowercase string forms of the values the
  field takes in the range (used to skip rules whose log source is absent).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sigma.conversion.base import Backend

from detect.rules.correlation import Match


@runtime_checkable
class RuleTarget(Protocol):
    name: str

    def backend(self) -> Backend: ...

    def prepare(self, fields: Sequence[str]) -> None: ...

    def matches(
        self, rule_id: str, query: Any, start: datetime, end: datetime, fields: Sequence[str]
    ) -> list[Match]: ...

    def distinct(self, field: str, start: datetime, end: datetime) -> set[str]: ...
