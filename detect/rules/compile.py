"""Compile a :class:`RuleSet` for one store: base rules to queries, correlations to specs.

The result keeps, per base rule, the queries (one per Sigma condition), the fields they read,
and the equalities every match must satisfy on partitioning fields (``event.dataset``,
``winlog.channel``...), which the evaluator uses to skip rules whose log source has no event in
the time range (the pre-filter). Problems are collected per rule, like loading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionOR,
)
from sigma.conversion.base import Backend
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaNumber, SigmaString

from detect.rules.compile_cache import CompileCache, tree_from_json, tree_to_json
from detect.rules.correlation import CorrelationSpec, spec_from_rule
from detect.rules.literals import Tree, literal_tree
from detect.rules.loader import LoadedRule, RuleProblem, RuleSet
from detect.rules.pipelines import has_known_source
from detect.rules.sqlite_backend import FieldLayout
from tulou.errors import TulouError

#: Fields whose few distinct values partition events by log source (the pre-filter).
PARTITION_FIELDS = (
    "event.dataset",
    "winlog.channel",
    "winlog.event_id",
    "network.protocol",
    "observer.product",
)


@dataclass(frozen=True)
class CompiledRule:
    """A base rule ready to run on one store."""

    rule: LoadedRule
    queries: tuple[Any, ...]
    fields: tuple[str, ...]
    #: field -> allowed lowercase values; a match must have one of them (ANDed at the root).
    requires: dict[str, frozenset[str]] = field(default_factory=dict)
    #: False when only correlations use it (Sigma's ``generate: false`` default).
    generates: bool = True
    #: Per query: the literals every match needs (:mod:`detect.rules.literals`), None if none.
    literals: tuple[Tree | None, ...] = ()


@dataclass
class Compilation:
    """A rule set compiled for one store."""

    target: str
    rules: dict[str, CompiledRule] = field(default_factory=dict)
    #: In evaluation order: a correlation comes after every correlation it refers to.
    correlations: dict[str, tuple[LoadedRule, CorrelationSpec]] = field(default_factory=dict)
    problems: list[RuleProblem] = field(default_factory=list)
    #: Correlations that only feed others (a referring correlation says ``generate: false``).
    silent: set[str] = field(default_factory=set)

    def fields(self) -> set[str]:
        out = {f for rule in self.rules.values() for f in rule.fields}
        for _, spec in self.correlations.values():
            out.update(spec.needed_fields())
        return out


def compile_rules(
    ruleset: RuleSet,
    target: str,
    backend: Callable[[], Backend],
    cache: CompileCache | None = None,
) -> Compilation:
    """Compile every rule of ``ruleset`` with a fresh ``backend()``; problems per rule.

    With a ``cache`` (:mod:`detect.rules.compile_cache`, keyed by the target, pipeline and
    backend code), a rule whose text and store layout were compiled before is taken from it,
    and new outcomes are added (the caller saves it); only backends with a ``layout`` are
    cached."""
    result = Compilation(target=target)
    hidden: set[str] = set()
    for loaded in ruleset.rules:
        if not loaded.is_correlation:
            continue
        try:
            spec = _correlation(loaded, ruleset)
        except (TulouError, SigmaError) as exc:
            result.problems.append(_problem(loaded, target, exc))
            continue
        result.correlations[loaded.rule_id] = (loaded, spec)
        if not loaded.data["correlation"].get("generate", False):
            hidden.update(spec.rules)
    converter = backend()
    # A backend whose store drops non-ASCII cased literals may use literals of |re values too.
    regex = bool(getattr(converter, "regex_literals", False))
    layout = getattr(converter, "layout", None)
    scalars = layout.scalars if isinstance(layout, FieldLayout) else None
    if scalars is None:
        cache = None
    for loaded in ruleset.rules:
        if loaded.is_correlation:
            continue
        if cache is not None:
            entry = cache.get(loaded.content_hash, scalars)
            if entry is not None:
                _from_cache(result, loaded, entry, generates=loaded.rule_id not in hidden)
                continue
            before = len(result.problems)
        _compile_one(result, loaded, converter, target, regex, hidden)
        if cache is not None and scalars is not None:
            cache.put(loaded.content_hash, _entry(result, loaded, before, scalars))
    _check_chains(result, target)
    result.silent = hidden & set(result.correlations)
    return result


def _from_cache(
    result: Compilation, loaded: LoadedRule, entry: dict[str, Any], *, generates: bool
) -> None:
    if "problem" in entry:
        result.problems.append(
            RuleProblem(
                str(loaded.path),
                loaded.line,
                str(entry["problem"]),
                loaded.rule_id,
                "warning" if entry.get("severity") == "warning" else "error",
            )
        )
        return
    result.rules[loaded.rule_id] = CompiledRule(
        rule=loaded,
        queries=tuple(entry["queries"]),
        fields=tuple(entry["fields"]),
        requires={k: frozenset(v) for k, v in entry["requires"].items()},
        generates=generates,
        literals=tuple(tree_from_json(t) for t in entry["literals"]),
    )


def _entry(
    result: Compilation, loaded: LoadedRule, before: int, scalars: frozenset[str]
) -> dict[str, Any]:
    """What :func:`_compile_one` decided for ``loaded``, as a cache entry."""
    compiled = result.rules.get(loaded.rule_id)
    if compiled is None:
        problem = result.problems[before] if len(result.problems) > before else None
        reason = problem.reason if problem is not None else "not compiled"
        return {"problem": reason, "severity": problem.severity if problem else "error"}
    return {
        "queries": list(compiled.queries),
        "fields": list(compiled.fields),
        "scalars": [f for f in compiled.fields if f in scalars],
        "requires": {k: sorted(v) for k, v in compiled.requires.items()},
        "literals": [tree_to_json(t) for t in compiled.literals],
    }


def _compile_one(  # noqa: PLR0917 - one rule's share of compile_rules
    result: Compilation,
    loaded: LoadedRule,
    converter: Backend,
    target: str,
    regex: bool,
    hidden: set[str],
) -> None:
    """Convert one base rule into ``result`` (a compiled rule or a problem)."""
    sigma = loaded.sigma()
    if not isinstance(sigma, SigmaRule):  # pragma: no cover - is_correlation said so
        return
    try:
        queries = converter.convert_rule(sigma)
    except SigmaError as exc:
        result.problems.append(_problem(loaded, target, exc))
        return
    except (TypeError, ValueError, KeyError, AttributeError, NotImplementedError) as exc:
        # pySigma lets a few plain exceptions out on odd rules: still one rule's problem.
        result.problems.append(_problem(loaded, target, exc))
        return
    if not has_known_source(sigma):
        result.problems.append(
            RuleProblem(
                str(loaded.path),
                loaded.line,
                f"{target}: no processing pipeline collects log source {loaded.logsource}",
                loaded.rule_id,
                "warning",
            )
        )
        return
    if not queries:
        result.problems.append(
            RuleProblem(str(loaded.path), loaded.line, f"{target}: no query", loaded.rule_id)
        )
        return
    result.rules[loaded.rule_id] = CompiledRule(
        rule=loaded,
        queries=tuple(queries),
        fields=tuple(sorted(rule_fields(sigma))),
        requires=_requires(sigma),
        generates=loaded.rule_id not in hidden,
        literals=_literals(sigma, len(queries), regex),
    )


def _check_chains(result: Compilation, target: str) -> None:
    """Drop correlations whose references did not compile, loop or lack a grouping field;
    order the rest so every correlation follows the correlations it refers to."""
    pending = dict(result.correlations)
    ordered: dict[str, tuple[LoadedRule, CorrelationSpec]] = {}
    while pending:
        progress = False
        for rule_id, (loaded, spec) in list(pending.items()):
            refs = [r for r in spec.rules if r not in result.rules]
            if any(r in pending for r in refs):
                continue  # its referenced correlations are not decided yet
            del pending[rule_id]
            progress = True
            reason = _chain_problem(spec, refs, ordered)
            if reason:
                result.problems.append(
                    RuleProblem(str(loaded.path), loaded.line, f"{target}: {reason}", rule_id)
                )
            else:
                ordered[rule_id] = (loaded, spec)
        if not progress:  # what is left refers to itself through a loop
            for rule_id, (loaded, _) in pending.items():
                result.problems.append(
                    RuleProblem(
                        str(loaded.path),
                        loaded.line,
                        f"{target}: correlation chain loops back to itself",
                        rule_id,
                    )
                )
            break
    result.correlations = ordered


def _chain_problem(
    spec: CorrelationSpec,
    refs: list[str],
    accepted: dict[str, tuple[LoadedRule, CorrelationSpec]],
) -> str | None:
    missing = [r for r in refs if r not in accepted]
    if missing:
        return f"correlation's base rules did not compile: {missing}"
    for ref in refs:
        inner = accepted[ref][1]
        # A fired correlation carries only its group values into the one referring to it.
        lacking = [f for f in spec.needed_fields() if f not in inner.group_by]
        if lacking:
            return f"chained correlation {ref} does not group by {lacking}"
    return None


def _correlation(loaded: LoadedRule, ruleset: RuleSet) -> CorrelationSpec:
    body = loaded.data["correlation"]
    refs = body.get("rules") or []
    if isinstance(refs, str):
        refs = [refs]
    ids = []
    for ref in refs:
        base = ruleset.resolve(str(ref))  # a base rule, or a correlation (Sigma chaining)
        if base is None:
            raise TulouError(f"correlation refers to unknown rule {ref!r}")
        ids.append(base.rule_id)
    return spec_from_rule(loaded.rule_id, body, ids)


def _problem(loaded: LoadedRule, target: str, exc: BaseException) -> RuleProblem:
    message = str(exc)
    cut = message.find(" in rule ")
    message = message[:cut] if cut > 0 else message
    return RuleProblem(
        str(loaded.path), loaded.line, f"{target}: {type(exc).__name__}: {message}", loaded.rule_id
    )


def rule_fields(rule: SigmaRule) -> set[str]:
    """Every field a (processed) rule's conditions read."""
    fields: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, ConditionFieldEqualsValueExpression) and node.field:
            fields.add(node.field)
        for arg in getattr(node, "args", None) or ():
            walk(arg)

    for condition in rule.detection.parsed_condition:
        walk(condition.parsed)
    return fields


def _literals(rule: SigmaRule, queries: int, regex: bool = False) -> tuple[Tree | None, ...]:
    """Per query, its necessary literals; none at all when queries and conditions differ."""
    trees = tuple(literal_tree(c.parsed, regex=regex) for c in rule.detection.parsed_condition)
    return trees if len(trees) == queries else (None,) * queries


def _requires(rule: SigmaRule) -> dict[str, frozenset[str]]:
    """Equalities on :data:`PARTITION_FIELDS` that every match of every condition needs."""
    found: dict[str, frozenset[str]] | None = None
    for condition in rule.detection.parsed_condition:
        here: dict[str, frozenset[str]] = {}
        _collect(condition.parsed, here)
        found = here if found is None else {k: v | here[k] for k, v in found.items() if k in here}
    return found or {}


def _collect(node: ConditionItem | Any, into: dict[str, frozenset[str]]) -> None:
    if isinstance(node, ConditionAND):
        for arg in node.args:
            _collect(arg, into)
        return
    values = _equalities(node)
    if values is not None:
        name, allowed = values
        into[name] = into[name] & allowed if name in into else allowed


def _equalities(node: Any) -> tuple[str, frozenset[str]] | None:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field not in PARTITION_FIELDS:
            return None
        value = node.value
        if isinstance(value, SigmaString) and not value.contains_special():
            return node.field, frozenset({str(value.to_plain()).lower()})
        if isinstance(value, SigmaNumber):
            return node.field, frozenset({str(value.number).lower()})
        return None
    if isinstance(node, ConditionOR):
        parts = [_equalities(arg) for arg in node.args]
        if parts and all(p is not None for p in parts):
            names = {p[0] for p in parts if p is not None}
            if len(names) == 1:
                return names.pop(), frozenset().union(*(p[1] for p in parts if p is not None))
    return None
