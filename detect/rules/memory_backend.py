"""A pySigma backend that compiles a rule's condition to a Python predicate over one event.

The reference semantics of the rule targets, in plain Python: the memory target
(:mod:`detect.rules.memory_target`) runs these predicates, and the RuleTarget conformance
suite checks that SQLite and Elasticsearch find the same matches. Value by value (the same
table as docs/rules.md):

- plain string: equality, case-insensitive (Unicode lower case); ``*`` and ``?`` wildcards;
  ``|cased`` compares exactly. A number or boolean in the event compares by its text form
  (``true``/``false``, ``42``).
- keyword (a value with no field): ``*value*`` on the keyword field (``event.original``).
- number: the value is that number (or text that reads as it); compare modifiers: numeric
  comparison of the value read as a number; bool: the boolean (or its text form).
- ``|re``: ``re.search`` (unanchored, Sigma's flags); ``|cidr``: the address lies in the
  network; null: the field is absent or null; ``|exists``: it is present.
- a field holding a list matches when one of its elements does.
- field references, timestamp parts and query placeholders are refused (rule-level error).
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Mapping
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

type Predicate = Callable[[Mapping[str, Any]], bool]

_OPS = {
    SigmaCompareExpression.CompareOperators.LT: operator.lt,
    SigmaCompareExpression.CompareOperators.LTE: operator.le,
    SigmaCompareExpression.CompareOperators.GT: operator.gt,
    SigmaCompareExpression.CompareOperators.GTE: operator.ge,
}
_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


def text(value: Any) -> str:
    """The text form of a stored value (what string conditions compare)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _values(event: Mapping[str, Any], name: str) -> list[Any]:
    value = event.get(name)
    if value is None:
        return []
    return [v for v in value if v is not None] if isinstance(value, list) else [value]


def _field_test(name: str, test: Callable[[Any], bool]) -> Predicate:
    return lambda event: any(test(v) for v in _values(event, name))


def _string_regex(value: SigmaString, *, insensitive: bool) -> re.Pattern[str]:
    parts = []
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        elif isinstance(part, str):
            parts.append(re.escape(part))
        else:  # pragma: no cover - placeholders are refused by the pipeline
            raise SigmaFeatureNotSupportedByBackendError(f"unexpected special {part}")
    flags = re.DOTALL | (re.IGNORECASE if insensitive else 0)
    return re.compile("".join(parts), flags)


class MemoryBackend(Backend):
    """Sigma rule -> one predicate per condition (see the module docstring)."""

    name: ClassVar[str] = "Tulou in-memory predicates"
    formats: ClassVar[dict[str, str]] = {"default": "Python predicates"}
    convert_or_as_in: ClassVar[bool] = False
    convert_and_as_in: ClassVar[bool] = False
    explicit_not_exists_expression: ClassVar[bool] = True

    def __init__(
        self,
        processing_pipeline: ProcessingPipeline | None = None,
        collect_errors: bool = False,
        *,
        keyword_field: str = "event.original",
    ) -> None:
        super().__init__(processing_pipeline, collect_errors)
        self._keyword_field = keyword_field

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: Any) -> Any:
        return query

    # -- boolean structure -------------------------------------------------------------------
    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Predicate:
        parts = [self.convert_condition(arg, state) for arg in cond.args]
        return lambda event: any(p(event) for p in parts)

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> Predicate:
        parts = [self.convert_condition(arg, state) for arg in cond.args]
        return lambda event: all(p(event) for p in parts)

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Predicate:
        inner = self.convert_condition(cond.args[0], state)
        return lambda event: not inner(event)

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Predicate:  # pragma: no cover - disabled by convert_or_as_in/convert_and_as_in
        raise SigmaFeatureNotSupportedByBackendError("in-expressions are not generated")

    # -- field = value ------------------------------------------------------------------------
    def _string(self, name: str, value: Any, *, insensitive: bool) -> Predicate:
        if not isinstance(value, SigmaString):  # pragma: no cover - dispatcher guarantees it
            raise SigmaFeatureNotSupportedByBackendError(f"expected a string, got {value!r}")
        if not value.contains_special():
            plain = str(value.to_plain())
            if insensitive:
                wanted = plain.lower()
                return _field_test(name, lambda v: text(v).lower() == wanted)
            return _field_test(name, lambda v: text(v) == plain)
        pattern = _string_regex(value, insensitive=insensitive)
        return _field_test(name, lambda v: pattern.fullmatch(text(v)) is not None)

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        return self._string(_field(cond), cond.value, insensitive=True)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        return self._string(_field(cond), cond.value, insensitive=False)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        value = cond.value
        if not isinstance(value, SigmaNumber):  # pragma: no cover - dispatcher guarantees it
            raise SigmaFeatureNotSupportedByBackendError(f"expected a number, got {value!r}")
        number = float(value.number)
        return _field_test(_field(cond), lambda v: _number(v) == number)

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        wanted = cond.value.boolean if isinstance(cond.value, SigmaBool) else bool(cond.value)
        return _field_test(_field(cond), lambda v: text(v).lower() == text(wanted))

    def _regex(self, name: str, value: Any) -> Predicate:
        if not isinstance(value, SigmaRegularExpression):  # pragma: no cover - dispatcher
            raise SigmaFeatureNotSupportedByBackendError("not a regular expression")
        flags = 0
        for flag in value.flags:
            flags |= _RE_FLAGS.get(flag, 0)
        try:
            pattern = re.compile(str(value.regexp), flags)
        except re.error as exc:
            raise SigmaFeatureNotSupportedByBackendError(
                f"invalid regular expression: {exc}"
            ) from None
        return _field_test(name, lambda v: pattern.search(text(v)) is not None)

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        return self._regex(_field(cond), cond.value)

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        if not isinstance(cond.value, SigmaCIDRExpression):  # pragma: no cover - dispatcher
            raise SigmaFeatureNotSupportedByBackendError("not a CIDR expression")
        network = cond.value.network

        def inside(value: Any) -> bool:
            try:
                return ipaddress.ip_address(text(value)) in network
            except ValueError:
                return False

        return _field_test(_field(cond), inside)

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        value = cond.value
        if not isinstance(value, SigmaCompareExpression):  # pragma: no cover - dispatcher
            raise SigmaFeatureNotSupportedByBackendError("not a comparison")
        compare, limit = _OPS[value.op], float(value.number.number)

        def holds(v: Any) -> bool:
            number = _number(v)
            return number is not None and compare(number, limit)

        return _field_test(_field(cond), holds)

    def convert_condition_field_eq_val_null(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        name = _field(cond)
        return lambda event: event.get(name) is None

    def convert_condition_field_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        name = _field(cond)
        return lambda event: event.get(name) is not None

    def convert_condition_field_not_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Predicate:
        name = _field(cond)
        return lambda event: event.get(name) is None

    # -- keywords: values with no field --------------------------------------------------------
    def convert_condition_val_str(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Predicate:
        value = cond.value
        if not isinstance(value, SigmaString):  # pragma: no cover - dispatcher guarantees it
            value = SigmaString(str(value))
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SigmaString("*") + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SigmaString("*")
        return self._string(self._keyword_field, value, insensitive=True)

    def convert_condition_val_num(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Predicate:
        return self._string(self._keyword_field, SigmaString(f"*{cond.value}*"), insensitive=True)

    def convert_condition_val_re(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Predicate:
        return self._regex(self._keyword_field, cond.value)

    # -- refused --------------------------------------------------------------------------------
    def convert_condition_field_eq_field(self, cond: Any, state: ConversionState) -> Predicate:
        raise SigmaFeatureNotSupportedByBackendError("field references (|fieldref)")

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: Any, state: ConversionState
    ) -> Predicate:
        raise SigmaFeatureNotSupportedByBackendError("timestamp-part modifiers")

    def convert_condition_field_eq_query_expr(self, cond: Any, state: ConversionState) -> Predicate:
        raise SigmaFeatureNotSupportedByBackendError("query expression placeholders")

    def convert_condition_query_expr(self, cond: Any, state: ConversionState) -> Predicate:
        raise SigmaFeatureNotSupportedByBackendError("query expression placeholders")

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
