"""What rule evaluation carries from one run to the next, typed.

- :class:`CorrelationFloors`: per correlation and group, the time of the last event an earlier
  run fired on; later runs ignore matches at or before it (a lookback overlap never re-alerts).
- :class:`SuppressionState`: per deduplication key, the ``first_seen`` of the last alert that
  was let through (a rule's ``suppression`` window is measured from it).

Both are plain values in memory (groups are tuples, times are datetimes). The JSON forms
(:meth:`to_json` / :meth:`from_json`) exist only for the watch checkpoint file: a group is the
compact JSON of its ``[[field, value], ...]`` pairs there, a time is RFC 3339.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tulou.errors import InputError
from tulou.events import format_timestamp, parse_timestamp

#: A correlation group: the (field, value) pairs of its ``group-by`` fields, in order.
type Group = tuple[tuple[str, Any], ...]


def _group_json(group: Group) -> str:
    return json.dumps([list(pair) for pair in group])


def _group_of(text: str) -> Group:
    pairs = json.loads(text)
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs
    ):
        raise ValueError(f"not a correlation group: {text!r}")
    return tuple((name, value) for name, value in pairs)


@dataclass
class CorrelationFloors:
    by_rule: dict[str, dict[Group, datetime]] = field(default_factory=dict)

    def of(self, rule_id: str) -> Mapping[Group, datetime]:
        return self.by_rule.get(rule_id, {})

    def advance(self, rule_id: str, group: Group, moment: datetime) -> None:
        floors = self.by_rule.setdefault(rule_id, {})
        if group not in floors or floors[group] < moment:
            floors[group] = moment

    def copy(self) -> CorrelationFloors:
        return CorrelationFloors({rule: dict(groups) for rule, groups in self.by_rule.items()})

    def to_json(self) -> dict[str, dict[str, str]]:
        return {
            rule: {_group_json(g): format_timestamp(t) for g, t in sorted(groups.items(), key=_k)}
            for rule, groups in sorted(self.by_rule.items())
        }

    @classmethod
    def from_json(cls, data: Any) -> CorrelationFloors:
        try:
            return cls(
                {
                    str(rule): {_group_of(g): parse_timestamp(str(t)) for g, t in groups.items()}
                    for rule, groups in dict(data or {}).items()
                }
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(f"unreadable correlation floors: {exc}") from None


def _k(item: tuple[Group, datetime]) -> str:
    return _group_json(item[0])


@dataclass
class SuppressionState:
    last_alerted: dict[str, datetime] = field(default_factory=dict)

    def copy(self) -> SuppressionState:
        return SuppressionState(dict(self.last_alerted))

    def to_json(self) -> dict[str, str]:
        return {key: format_timestamp(t) for key, t in sorted(self.last_alerted.items())}

    @classmethod
    def from_json(cls, data: Any) -> SuppressionState:
        try:
            return cls({str(k): parse_timestamp(str(v)) for k, v in dict(data or {}).items()})
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(f"unreadable suppression state: {exc}") from None
