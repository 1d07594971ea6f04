"""The literal pre-filter: which rules can possibly match a row, from one scan of its text.

A rule query's *necessary literals* are a set of (field, literal) pairs such that every event
the query matches has at least one of the literals in that field (ASCII case folded; for a
field holding a list, in the raw text or in one of the elements). They are derived from the
processed Sigma condition tree, the same tree the store's query is compiled from:

- a string value (``contains``, ``startswith``, ``endswith``, equality, ``|cased``, ``|all``
  parts, keywords on ``event.original``) requires each of its wildcard-free chunks;
- ``AND`` requires what any one operand requires (the most selective one is kept);
- ``OR`` (and modifier expansions such as ``windash``) requires the union of what its operands
  require, and nothing when one operand requires nothing;
- ``NOT``, regular expressions, numbers, CIDR, comparisons, null/exists tests, field
  references and placeholders require nothing provable.

A query that requires nothing provable keeps the full evaluation. The pre-filter only selects
*candidates*: the store's own query still decides every match, so a pre-filtered evaluation
returns exactly the matches of an unfiltered one (the invariant: it never drops a match, it
only skips (rule, row) pairs that cannot match).

Why ASCII folding: SQLite's ``LIKE`` and ``NOCASE`` ignore the case of ASCII letters only, and
``GLOB`` is exact, so a value a pattern matches contains the pattern's chunks once both are
ASCII-folded. The :class:`LiteralIndex` builds one Aho-Corasick automaton per field
(pyahocorasick) and scans each distinct value once.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import SigmaExpansion, SigmaRegularExpression, SigmaString, SpecialChars

#: At least one of these (field, ASCII-folded literal) pairs occurs in every match.
type Need = frozenset[tuple[str, str]]

#: The parser ``re`` itself uses (no type stub: private to the standard library).
_RE_PARSER: Any = importlib.import_module("re._parser")

_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def fold(text: str) -> str:
    """ASCII-only lower case (what SQLite's ``LIKE`` and ``NOCASE`` ignore)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class Lit:
    """``literal`` (folded) occurs in ``field``."""

    field: str
    literal: str


@dataclass(frozen=True)
class AllOf:
    """Every part holds (each part is a necessary condition)."""

    parts: tuple[Tree, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds."""

    parts: tuple[Tree, ...]


type Tree = Lit | AllOf | AnyOf


def literal_tree(
    node: Any, keyword_field: str = "event.original", *, regex: bool = False
) -> Tree | None:
    """The necessary literals of a processed Sigma condition node, or None if none provable.

    ``regex``: also derive literals from ``|re`` values (:func:`regex_tree`; only for stores
    whose users drop non-ASCII cased literals, see its docstring).
    """
    if isinstance(node, ConditionAND):
        parts = [literal_tree(arg, keyword_field, regex=regex) for arg in node.args]
        kept = tuple(p for p in parts if p is not None)
        return AllOf(kept) if kept else None
    if isinstance(node, ConditionOR):
        return _any(literal_tree(arg, keyword_field, regex=regex) for arg in node.args)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _value(node.field, node.value, regex) if node.field else None
    if isinstance(node, ConditionValueExpression):
        return _value(keyword_field, node.value, regex)
    return None  # NOT, and anything unknown


def _any(parts: Iterable[Tree | None]) -> Tree | None:
    kept: list[Tree] = []
    for part in parts:
        if part is None:
            return None
        kept.append(part)
    return AnyOf(tuple(kept)) if kept else None


def _value(field: str, value: Any, regex: bool = False) -> Tree | None:
    if isinstance(value, SigmaExpansion):
        return _any(_value(field, v, regex) for v in value.values)
    if regex and isinstance(value, SigmaRegularExpression):
        return regex_tree(field, str(value.regexp))
    if not isinstance(value, SigmaString) or value.contains_placeholder():
        return None
    chunks: list[str] = []
    current = ""
    for part in value.s:
        if isinstance(part, str):
            current += part
        elif part in (SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE):
            chunks.append(current)
            current = ""
        else:
            return None
    chunks.append(current)
    kept = tuple(Lit(field, fold(c)) for c in dict.fromkeys(chunks) if c)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else AllOf(kept)


def regex_tree(field: str, pattern: str) -> Tree | None:
    """The necessary literals of a Sigma regular expression (unanchored ``re.search``).

    The pattern is parsed with Python's own regex parser: within a sequence, consecutive
    literal characters form a chunk every match contains; a group, or a repetition of at least
    one, requires what its body requires; an alternation requires one of its branches' (nothing
    if one branch requires nothing); anything else (classes, ``.``, anchors, look-arounds,
    back-references, optional repetitions) ends the chunk and requires nothing. Chunks are
    ASCII-folded: a superset for case-sensitive patterns, and exact for case-insensitive ones on
    ASCII text only, so a store whose case-insensitive matching is Unicode-aware must drop
    literals with non-ASCII cased characters (:func:`detect.rules.es_prefilter.ascii_tree`).
    SQLite's pre-filter does not use these (its REGEXP is Python's, Unicode-aware too).
    """
    try:
        parsed = _RE_PARSER.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    return _regex_sequence(field, list(parsed))


def _regex_sequence(field: str, items: list[tuple[Any, Any]]) -> Tree | None:
    parts: list[Tree | None] = []
    chunk = ""
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            chunk += chr(arg)
            continue
        if chunk:
            parts.append(Lit(field, fold(chunk)))
            chunk = ""
        if name == "SUBPATTERN":
            parts.append(_regex_sequence(field, list(arg[-1])))
        elif name == "ATOMIC_GROUP":
            parts.append(_regex_sequence(field, list(arg)))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
            parts.append(_regex_sequence(field, list(arg[2])))
        elif name == "BRANCH":
            parts.append(_any(_regex_sequence(field, list(branch)) for branch in arg[1]))
    if chunk:
        parts.append(Lit(field, fold(chunk)))
    kept: list[Tree] = []
    for part in parts:
        if isinstance(part, AllOf):
            kept.extend(part.parts)
        elif part is not None:
            kept.append(part)
    return (kept[0] if len(kept) == 1 else AllOf(tuple(kept))) if kept else None


def need(tree: Tree | None, usable: Callable[[str], bool]) -> Need | None:
    """The most selective necessary literal set of ``tree`` on fields ``usable`` says scan."""
    if tree is None:
        return None
    if isinstance(tree, Lit):
        return frozenset({(tree.field, tree.literal)}) if usable(tree.field) else None
    if isinstance(tree, AnyOf):
        out: set[tuple[str, str]] = set()
        for part in tree.parts:
            got = need(part, usable)
            if got is None:
                return None
            out |= got
        return frozenset(out)
    options = [got for part in tree.parts if (got := need(part, usable)) is not None]
    return min(options, key=_cost, default=None)


def _cost(literals: Need) -> tuple[float, int]:
    """Estimated chance that a row holds one of ``literals`` (longer is rarer), then size."""
    return sum(0.25 ** min(len(text), 12) for _, text in literals), len(literals)


def texts(value: Any) -> list[str] | None:
    """The folded texts a stored column value offers to a pattern; None: cannot tell.

    A string is offered whole and, when it is a JSON array, element by element (the store
    matches list elements one by one); whole numbers as their decimal text. Anything whose text
    form in the store might differ from Python's (floats, nested values) is "cannot tell".
    """
    if value is None:
        return []
    if isinstance(value, str):
        out = [fold(value)]
        if value.startswith("["):
            try:
                decoded = json.loads(value)
            except (ValueError, RecursionError):
                return None
            if isinstance(decoded, list):
                for element in decoded:
                    if element is None:
                        continue
                    text = _scalar_text(element)
                    if text is None:
                        return None
                    out.append(text)
        return out
    text = _scalar_text(value)
    return None if text is None else [text]


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return fold(value)
    if type(value) is int and -(2**63) <= value < 2**63:
        return str(value)
    return None


def prune(tree: Tree | None, usable: Callable[[str], bool]) -> Tree | None:
    """``tree`` without the literals on fields that cannot be scanned (None: nothing left)."""
    return prune_literals(tree, lambda lit: usable(lit.field))


def prune_literals(tree: Tree | None, keep: Callable[[Lit], bool]) -> Tree | None:
    """``tree`` without the literals ``keep`` refuses (None: nothing provable left).

    Still necessary: an ``AllOf`` part dropped only weakens the conjunction, and an ``AnyOf``
    that loses a part becomes "nothing provable" (None).
    """
    if tree is None or isinstance(tree, Lit):
        return tree if tree is not None and keep(tree) else None
    parts = [prune_literals(part, keep) for part in tree.parts]
    if isinstance(tree, AnyOf):
        return _any(parts)
    kept: list[Tree] = []
    for part in parts:
        if isinstance(part, AllOf):
            kept.extend(part.parts)  # flat: (a AND (b AND c)) is (a AND b AND c)
        elif part is not None:
            kept.append(part)
    return (kept[0] if len(kept) == 1 else AllOf(tuple(kept))) if kept else None


#: A tree over literal ids: an id, or ("&" | "|", parts).
type _Compiled = int | tuple[str, tuple[_Compiled, ...]]


class LiteralIndex:
    """Which items can match a row: ``trees[i]`` are item i's necessary literals.

    Items whose tree keeps nothing on a ``usable`` field are :attr:`unfiltered` (always
    evaluated). For the others, :meth:`candidates` takes a row's stored values aligned with
    :attr:`fields` and returns the items whose whole tree holds on the literals found in it: a
    conjunction of necessary conditions is necessary, so no item that matches the row is left
    out. A value that cannot be read as text counts as holding every literal of its field.

    One automaton per field; each distinct value is scanned once, and the candidates of each
    distinct set of literals found are computed once.
    """

    def __init__(self, trees: Sequence[Tree | None], usable: Callable[[str], bool]) -> None:
        ids: dict[tuple[str, str], int] = {}
        self.unfiltered: list[int] = []
        self._trees: dict[int, _Compiled] = {}
        self._anchored: dict[int, list[int]] = {}  # literal id -> items it may nominate
        for item, tree in enumerate(trees):
            kept = prune(tree, usable)
            anchors = need(kept, usable)
            if kept is None or not anchors:
                self.unfiltered.append(item)
                continue
            self._trees[item] = _compile(kept, ids)
            for pair in anchors:
                self._anchored.setdefault(ids[pair], []).append(item)
        by_field: dict[str, list[tuple[str, int]]] = {}
        for (field, text), number in ids.items():
            by_field.setdefault(field, []).append((text, number))
        self.fields = sorted(by_field)
        self._automata: list[Any] = []
        self._every: list[frozenset[int]] = []
        for field in self.fields:
            automaton = ahocorasick.Automaton()
            for text, number in by_field[field]:
                automaton.add_word(text, number)
            automaton.make_automaton()
            self._automata.append(automaton)
            self._every.append(frozenset(number for _, number in by_field[field]))
        self._scanned: dict[tuple[int, type, Any], frozenset[int]] = {}
        self._decided: dict[frozenset[int], tuple[int, ...]] = {}

    def candidates(self, values: Sequence[Any]) -> tuple[int, ...]:
        found: set[int] = set()
        for position, value in enumerate(values):
            if value is None:
                continue
            key = (position, type(value), value)  # 1 and 1.0 are equal keys, not equal texts
            hits = self._scanned.get(key)
            if hits is None:
                hits = self._scan(position, value)
                if len(self._scanned) > 100_000:
                    self._scanned.clear()
                self._scanned[key] = hits
            found |= hits
        hit_set = frozenset(found)
        decided = self._decided.get(hit_set)
        if decided is None:
            nominated = {item for h in hit_set for item in self._anchored.get(h, ())}
            decided = tuple(sorted(i for i in nominated if _holds(self._trees[i], hit_set)))
            if len(self._decided) > 100_000:
                self._decided.clear()
            self._decided[hit_set] = decided
        return decided

    def possible(self, values: Sequence[Iterable[Any] | None]) -> tuple[int, ...]:
        """The filtered items that may match some row of a set of rows.

        ``values[i]`` are the distinct values field :attr:`fields` ``[i]`` takes over the set
        (list elements one by one), or None when they are not known (then every literal of
        that field counts as found). An item is returned when its tree holds on the literals
        found in *any* of the values: every row's own literals are a subset of those, so an
        item left out matches no row of the set. :attr:`unfiltered` items are not included.
        """
        found: set[int] = set()
        for position, field_values in enumerate(values):
            if field_values is None:
                found |= self._every[position]
                continue
            for value in field_values:
                if value is not None:
                    found |= self._scan(position, value)
        hit_set = frozenset(found)
        nominated = {item for h in hit_set for item in self._anchored.get(h, ())}
        return tuple(sorted(i for i in nominated if _holds(self._trees[i], hit_set)))

    def _scan(self, position: int, value: Any) -> frozenset[int]:
        offered = texts(value)
        if offered is None:
            return self._every[position]
        automaton = self._automata[position]
        return frozenset(number for text in offered for _, number in automaton.iter(text))


def _compile(tree: Tree, ids: dict[tuple[str, str], int]) -> _Compiled:
    if isinstance(tree, Lit):
        return ids.setdefault((tree.field, tree.literal), len(ids))
    parts = tuple(_compile(part, ids) for part in tree.parts)
    return ("&" if isinstance(tree, AllOf) else "|", parts)


def _holds(tree: _Compiled, hits: frozenset[int]) -> bool:
    if isinstance(tree, int):
        return tree in hits
    op, parts = tree
    if op == "&":
        return all(_holds(part, hits) for part in parts)
    return any(_holds(part, hits) for part in parts)
