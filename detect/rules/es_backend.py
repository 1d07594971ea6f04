"""A pySigma backend that compiles a rule's condition to Elasticsearch Query DSL (a dict).

Why not pySigma's Lucene backend: Lucene ``query_string`` has no case-insensitive mode, and
Sigma matches strings case-insensitively. Term-level DSL queries do (``term``/``wildcard``/
``regexp`` with ``case_insensitive: true``), whatever the field's normalizer. The Lucene output
remains available for people (``tulou rules convert --target lucene``).

Semantics, value by value (docs/rules.md has the table):

- plain string: ``term`` (no wildcard) or ``wildcard``, case-insensitive; ``|cased`` drops that.
- keyword (a value with no field): ``wildcard *value*`` on the keyword field (``event.original``).
- number, bool: ``term``; compare modifiers: ``range``; ``|cidr``: ``term`` on ``ip`` fields,
  else the prefix expansion as ``wildcard`` (keyword fields holding addresses as text).
- ``|re``: Lucene ``regexp`` after :func:`detect.rules.regex.to_lucene` (unanchored like Sigma;
  constructs Lucene cannot express make the rule fail to convert, never silently differ).
- null: the field is absent; ``|exists``: ``exists``.
- field references, timestamp parts and query placeholders are refused (rule-level error).

A field is addressed through ``resolve(name) -> (path, type)`` so the same rule targets a
``keyword`` field directly, or the ``keyword`` subfield of a ``text`` field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import Backend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.types import (
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from detect.rules.regex import to_lucene

type Query = dict[str, Any]
type FieldResolver = Callable[[str], tuple[str, str]]

_OPS = {
    SigmaCompareExpression.CompareOperators.LT: "lt",
    SigmaCompareExpression.CompareOperators.LTE: "lte",
    SigmaCompareExpression.CompareOperators.GT: "gt",
    SigmaCompareExpression.CompareOperators.GTE: "gte",
}


def keyword_resolver(name: str) -> tuple[str, str]:
    """The default resolver: every field is a ``keyword`` of the same name."""
    return name, "keyword"


class EsDslBackend(Backend):
    """Sigma rule -> one Query DSL ``dict`` per condition."""

    name: ClassVar[str] = "Tulou Elasticsearch Query DSL"
    formats: ClassVar[dict[str, str]] = {"default": "Query DSL objects"}
    convert_or_as_in: ClassVar[bool] = False
    convert_and_as_in: ClassVar[bool] = False
    explicit_not_exists_expression: ClassVar[bool] = True
    #: The literal pre-filter may use the necessary literals of ``|re`` values: Elasticsearch's
    #: pre-filter drops non-ASCII cased ones (:mod:`detect.rules.es_prefilter`).
    regex_literals: ClassVar[bool] = True

    def __init__(
        self,
        processing_pipeline: ProcessingPipeline | None = None,
        collect_errors: bool = False,
        *,
        resolve: FieldResolver = keyword_resolver,
        keyword_field: str = "event.original",
    ) -> None:
        super().__init__(processing_pipeline, collect_errors)
        self._resolve = resolve
        self._keyword_field = keyword_field

    # -- boolean structure -------------------------------------------------------------------
    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Query:
        should = [self.convert_condition(arg, state) for arg in cond.args]
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> Query:
        return {"bool": {"filter": [self.convert_condition(arg, state) for arg in cond.args]}}

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Query:
        return {"bool": {"must_not": [self.convert_condition(cond.args[0], state)]}}

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Query:  # pragma: no cover - disabled by convert_or_as_in/convert_and_as_in
        raise SigmaFeatureNotSupportedByBackendError("in-expressions are not generated")

    # -- field = value ------------------------------------------------------------------------
    def _string(self, field: str, value: SigmaString, *, insensitive: bool) -> Query:
        path, kind = self._resolve(field)
        if not value.contains_special():
            plain = value.to_plain()
            if kind in ("long", "integer", "short", "byte", "double", "float", "ip", "boolean"):
                return {"term": {path: plain}}
            return {"term": {path: {"value": plain, "case_insensitive": insensitive}}}
        if kind not in ("keyword", "wildcard", "constant_keyword", "text"):
            # Wildcards cannot apply to numbers or addresses: no value of this type matches.
            return {"bool": {"must_not": [{"match_all": {}}]}}
        pattern = "".join(_wildcard_part(part) for part in value.s)
        return {"wildcard": {path: {"value": pattern, "case_insensitive": insensitive}}}

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        return self._string(_field(cond), _str(cond.value), insensitive=True)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        return self._string(_field(cond), _str(cond.value), insensitive=False)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, kind = self._resolve(_field(cond))
        number = cond.value.number if isinstance(cond.value, SigmaNumber) else cond.value
        return {"term": {path: str(number) if kind == "keyword" else number}}

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, kind = self._resolve(_field(cond))
        value = cond.value.boolean if isinstance(cond.value, SigmaBool) else bool(cond.value)
        if kind == "keyword":
            return {"term": {path: {"value": str(value).lower(), "case_insensitive": True}}}
        return {"term": {path: value}}

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, _ = self._resolve(_field(cond))
        return self._regexp(path, cond.value)

    def _regexp(self, path: str, value: Any) -> Query:
        if not isinstance(value, SigmaRegularExpression):  # pragma: no cover - dispatcher
            raise SigmaFeatureNotSupportedByBackendError("not a regular expression")
        unsupported = value.flags - {SigmaRegularExpressionFlag.IGNORECASE}
        if unsupported:
            raise SigmaFeatureNotSupportedByBackendError(
                f"regular expression flags {sorted(f.name for f in unsupported)} not supported"
            )
        pattern, inline_i = to_lucene(str(value.regexp))
        insensitive = inline_i or SigmaRegularExpressionFlag.IGNORECASE in value.flags
        return {
            "regexp": {path: {"value": pattern, "flags": "NONE", "case_insensitive": insensitive}}
        }

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, kind = self._resolve(_field(cond))
        cidr = cond.value
        if not isinstance(cidr, SigmaCIDRExpression):  # pragma: no cover - dispatcher
            raise SigmaFeatureNotSupportedByBackendError("not a CIDR expression")
        if kind == "ip":
            return {"term": {path: str(cidr.network)}}
        return {
            "bool": {
                "should": [
                    {"wildcard": {path: {"value": prefix}}} for prefix in cidr.expand(wildcard="*")
                ],
                "minimum_should_match": 1,
            }
        }

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, _ = self._resolve(_field(cond))
        value = cond.value
        if not isinstance(value, SigmaCompareExpression):  # pragma: no cover - dispatcher
            raise SigmaFeatureNotSupportedByBackendError("not a comparison")
        return {"range": {path: {_OPS[value.op]: value.number.number}}}

    def convert_condition_field_eq_val_null(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, _ = self._resolve(_field(cond))
        return {"bool": {"must_not": [{"exists": {"field": path}}]}}

    def convert_condition_field_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, _ = self._resolve(_field(cond))
        return {"exists": {"field": path}}

    def convert_condition_field_not_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Query:
        path, _ = self._resolve(_field(cond))
        return {"bool": {"must_not": [{"exists": {"field": path}}]}}

    # -- keywords: values with no field --------------------------------------------------------
    def convert_condition_val_str(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Query:
        value = _str(cond.value)
        wrapped = value
        if not wrapped.startswith(SpecialChars.WILDCARD_MULTI):
            wrapped = SigmaString("*") + wrapped
        if not wrapped.endswith(SpecialChars.WILDCARD_MULTI):
            wrapped = wrapped + SigmaString("*")
        return self._string(self._keyword_field, wrapped, insensitive=True)

    def convert_condition_val_num(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Query:
        return self._string(self._keyword_field, SigmaString(f"*{cond.value}*"), insensitive=True)

    def convert_condition_val_re(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Query:
        path, _ = self._resolve(self._keyword_field)
        return self._regexp(path, cond.value)

    # -- refused --------------------------------------------------------------------------------
    def convert_condition_field_eq_field(self, cond: Any, state: ConversionState) -> Query:
        raise SigmaFeatureNotSupportedByBackendError(
            "field references (|fieldref) on Elasticsearch"
        )

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: Any, state: ConversionState
    ) -> Query:
        raise SigmaFeatureNotSupportedByBackendError("timestamp-part modifiers on Elasticsearch")

    def convert_condition_field_eq_query_expr(self, cond: Any, state: ConversionState) -> Query:
        raise SigmaFeatureNotSupportedByBackendError("query expression placeholders")

    def convert_condition_query_expr(self, cond: Any, state: ConversionState) -> Query:
        raise SigmaFeatureNotSupportedByBackendError("query expression placeholders")

    # Correlations are evaluated in Python over base-rule matches (detect.rules.correlation).
    def _no_correlation(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise SigmaFeatureNotSupportedByBackendError(
            "correlations are evaluated by detect.rules.correlation, not compiled"
        )

    convert_correlation_event_count_rule = _no_correlation
    convert_correlation_value_count_rule = _no_correlation
    convert_correlation_temporal_rule = _no_correlation
    convert_correlation_temporal_ordered_rule = _no_correlation
    convert_correlation_value_sum_rule = _no_correlation
    convert_correlation_value_avg_rule = _no_correlation
    convert_correlation_value_percentile_rule = _no_correlation
    convert_correlation_value_median_rule = _no_correlation
    convert_correlation_extended_temporal_rule = _no_correlation
    convert_correlation_extended_temporal_ordered_rule = _no_correlation


def _field(cond: ConditionFieldEqualsValueExpression) -> str:
    if cond.field is None:  # pragma: no cover - pySigma only builds these with a field
        raise SigmaFeatureNotSupportedByBackendError("a field condition without a field")
    return cond.field


def _str(value: Any) -> SigmaString:
    if not isinstance(value, SigmaString):  # pragma: no cover - dispatcher guarantees it
        raise SigmaFeatureNotSupportedByBackendError(f"expected a string, got {value!r}")
    return value


def _wildcard_part(part: Any) -> str:
    if part == SpecialChars.WILDCARD_MULTI:
        return "*"
    if part == SpecialChars.WILDCARD_SINGLE:
        return "?"
    if not isinstance(part, str):  # pragma: no cover - placeholders are refused earlier
        raise SigmaFeatureNotSupportedByBackendError(f"unexpected special {part}")
    return str(part).replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
