"""pySigma's SQLite backend, adapted to the ingest store's ``events`` table.

What is added to ``sigma.backends.sqlite.sqliteBackend``:

- **Field addressing** through a :class:`FieldLayout` (one column per field, named exactly as
  the field: the ``detect.stores.sqlite`` schema).
- **Multi-valued fields** (ECS ``event.category``, ``related.ip``, ``process.args``... stored as
  JSON array text when they hold more than one element): a predicate on such a field means
  "some element matches", as Elasticsearch reads a multi-valued field, and is emitted as
  ``CASE WHEN <JSON array> THEN EXISTS (SELECT 1 FROM json_each(..) WHERE ..) ELSE <plain> END``.
  Fields that ECS defines as single-valued (:data:`SCALAR_FIELDS`) keep plain, indexable
  predicates.
- **Keywords** (values with no field): ``contains`` on the keyword field (``event.original``),
  which the stock backend does not support.
- **Case-insensitive equality**: ``collate_nocase`` is on; ``LIKE`` already ignores ASCII case;
  ``|cased`` uses ``GLOB``.
- **Numeric comparisons** cast the value to a number so a text column compares numerically.
- The query is the *condition* only (``finalize_query_default``): the evaluator adds the
  columns it reads and the time range (:mod:`detect.rules.sqlite_target`).

``REGEXP`` is not built into SQLite: :func:`detect.rules.regex.register_sqlite_functions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sigma.backends.sqlite.correlation import quote
from sigma.backends.sqlite.sqlite import sqliteBackend
from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionValueExpression
from sigma.conversion.state import ConversionState
from sigma.processing.pipeline import ProcessingPipeline
from sigma.types import SigmaExists, SigmaNull, SigmaString, SpecialChars

#: ECS fields that are single-valued by definition: plain (indexable) column predicates.
SCALAR_FIELDS = frozenset(
    {
        "@timestamp",
        "event.id",
        "event.dataset",
        "event.module",
        "event.kind",
        "event.action",
        "event.outcome",
        "event.code",
        "event.original",
        "host.name",
        "source.ip",
        "source.port",
        "destination.ip",
        "destination.port",
        "network.protocol",
        "network.transport",
        "http.request.method",
        "http.response.status_code",
        "url.original",
        "url.path",
        "url.query",
        "user.name",
        "winlog.channel",
        "winlog.event_id",
        "process.command_line",
        "process.executable",
        "process.name",
        "dns.question.name",
    }
)


@dataclass(frozen=True)
class FieldLayout:
    """How an event table holds fields: one column per field, named like the field."""

    scalars: frozenset[str] = SCALAR_FIELDS

    def sql(self, name: str) -> str:
        return quote(name)

    def may_be_list(self, name: str) -> bool:
        return name not in self.scalars


class TulouSqliteBackend(sqliteBackend):
    """The stock SQLite backend over a :class:`FieldLayout`; queries are WHERE conditions."""

    compare_op_expression: ClassVar[str] = "CAST({field} AS REAL) {operator} {value}"

    def __init__(
        self,
        processing_pipeline: ProcessingPipeline | None = None,
        collect_errors: bool = False,
        *,
        layout: FieldLayout | None = None,
        keyword_field: str = "event.original",
    ) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            processing_pipeline, collect_errors, collate_nocase=True
        )
        self._layout = layout or FieldLayout()
        self._keyword_field = keyword_field
        self._element: str | None = None

    @property
    def layout(self) -> FieldLayout:
        """What this backend's output depends on besides the rule and the pipeline (the
        compile cache records it per rule, :mod:`detect.rules.compile_cache`)."""
        return self._layout

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: Any) -> Any:
        return query

    def escape_and_quote_field(self, field_name: str) -> str:
        if self._element is not None and field_name == self._element:
            return "value"
        return self._layout.sql(field_name)

    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        name = cond.field
        if (
            name is None
            or not self._layout.may_be_list(name)
            or isinstance(cond.value, (SigmaNull, SigmaExists))
            or self._element is not None
        ):
            return super().convert_condition_field_eq_val(cond, state)
        plain = super().convert_condition_field_eq_val(cond, state)
        self._element = name
        try:
            element = super().convert_condition_field_eq_val(cond, state)
        finally:
            self._element = None
        column = self._layout.sql(name)
        return (
            f"(CASE WHEN substr({column}, 1, 1) = '[' AND json_valid({column}) "  # noqa: S608
            f"THEN EXISTS (SELECT 1 FROM json_each({column}) WHERE {element}) "
            f"ELSE {plain} END)"
        )

    def convert_condition_val_str(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Any:
        value = cond.value
        if not isinstance(value, SigmaString):  # pragma: no cover - dispatcher guarantees it
            value = SigmaString(str(value))
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SigmaString("*") + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SigmaString("*")
        return self.convert_condition(
            ConditionFieldEqualsValueExpression(self._keyword_field, value), state
        )

    def convert_condition_val_num(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Any:
        value = SigmaString(f"*{cond.value}*")
        return self.convert_condition(
            ConditionFieldEqualsValueExpression(self._keyword_field, value), state
        )

    def convert_condition_val_re(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Any:
        return self.convert_condition(
            ConditionFieldEqualsValueExpression(self._keyword_field, cond.value), state
        )
