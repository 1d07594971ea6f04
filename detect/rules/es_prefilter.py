"""The literal pre-filter in front of Elasticsearch: which rules of a log source can match at all.

SQLite's pre-filter (:class:`~detect.rules.literals.LiteralIndex`) reads every row of a log
source; Elasticsearch is asked for less: the *distinct values* of each literal field over the
rows of the log source in the time range (``terms`` aggregations, :data:`FIELDS_PER_SEARCH`
fields a search body, the bodies in one ``_msearch``). A rule whose necessary literals hold on
none of those values matches no row, so its search is not sent. On Elasticsearch the trees
also hold the literals of ``|re`` patterns (:func:`detect.rules.literals.regex_tree`).
The rules that remain still run their own query: the pre-filter only removes rules, it never
decides a match (the same invariant as on SQLite).

Why it is exact enough to be safe, case by case:

- only fields mapped as ``keyword`` everywhere (directly, or the ``keyword`` sub-field of a
  ``text`` field) are scanned: a ``term`` on a number or address field may match a different
  spelling (``04624`` finds ``4624``), so literals on other fields are not used;
- a field not mapped at all holds no value, so its literals are absent (a query on it matches
  nothing either);
- values over the mapping's ``ignore_above`` are neither aggregated nor matched by queries;
- Elasticsearch's ``case_insensitive`` matching is Unicode-aware while the literals are ASCII
  folded. So a literal is used only if each of its characters is ASCII or has no case at all
  (emoji, dashes, CJK: matched only by themselves), others are dropped from the trees; and a
  field with a value holding a non-ASCII character that some case mapping relates to an ASCII
  letter (the Kelvin sign, the long s, dotted and dotless i...) counts as holding every literal;
- a field with more than :data:`MAX_VALUES` distinct values (``sum_other_doc_count > 0``)
  counts as holding every literal (e.g. ``event.original`` over a large log source), and so
  does a field whose aggregation Elasticsearch refused.

Consistency: the values are read just before the rules' searches. A matching event that
becomes searchable between the two (a refresh in between) is missed by this run, as if it had
arrived after it; ``detect watch``'s lookback overlap evaluates it in the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detect.rules.compile import PARTITION_FIELDS
from detect.rules.literals import LiteralIndex, Tree, prune_literals
from tulou.errors import InputError

#: Distinct values read per field; a field with more holds "every literal".
MAX_VALUES = 20_000
#: Fields per search body (Elasticsearch refuses a search returning more than
#: ``search.max_buckets`` values, 65,536 by default); the bodies go in one ``_msearch``.
FIELDS_PER_SEARCH = 3

#: Runs search bodies together; per body its answer, or None if Elasticsearch refused it.
type Searches = Callable[[list[dict[str, Any]]], list[dict[str, Any] | None]]


def caseless(char: str) -> bool:
    """No case mapping or folding changes ``char`` (a case-insensitive match is exact)."""
    return char.lower() == char == char.upper() == char.casefold()


def ascii_tree(tree: Tree | None) -> Tree | None:
    """``tree`` without literals that have a non-ASCII cased character (module docstring)."""
    return prune_literals(tree, lambda lit: all(c.isascii() or caseless(c) for c in lit.literal))


def _ascii_look_alike(char: str) -> bool:
    """A non-ASCII character some case mapping relates to an ASCII letter (K-sign, ſ, İ)."""
    mapped = char.lower() + char.upper() + char.casefold()
    return any(c.isascii() and c.isalpha() for c in mapped)


def partition_query(
    requires: Mapping[str, frozenset[str]], resolve: Callable[[str], tuple[str, str]]
) -> list[dict[str, Any]]:
    """Filters selecting the rows of a log source (each field one of its allowed values).

    The same case-insensitive ``term`` the rules' own queries use, so every row a rule of the
    group can match is selected.
    """
    clauses: list[dict[str, Any]] = []
    for name, allowed in sorted(requires.items()):
        path, kind = resolve(name)
        terms: list[dict[str, Any]]
        if kind == "keyword":
            terms = [
                {"term": {path: {"value": v, "case_insensitive": True}}} for v in sorted(allowed)
            ]
        else:
            terms = [{"term": {path: v}} for v in sorted(allowed)]
        clauses.append({"bool": {"should": terms, "minimum_should_match": 1}})
    return clauses


def possible_items(
    literals: Sequence[Tree | None],
    kinds: Callable[[str], set[str]],
    resolve: Callable[[str], tuple[str, str]],
    search: Searches,
    filters: list[dict[str, Any]],
) -> set[int]:
    """Positions in ``literals`` of the items that may match a row selected by ``filters``.

    ``kinds(path)`` are the mapped types of a field (empty: not mapped), ``resolve`` maps a
    rule field to the path its query addresses, ``search`` runs search bodies (one round
    trip). Items without usable literals are always kept.
    """

    def usable(field: str) -> bool:
        if field in PARTITION_FIELDS:
            return False  # the same few values on every row of the log source: no use
        path, kind = resolve(field)
        return kind == "keyword" and kinds(path) <= {"keyword"}

    index = LiteralIndex([ascii_tree(t) for t in literals], usable)
    keep = set(index.unfiltered)
    if not index.fields:
        return keep
    paths = [resolve(field)[0] for field in index.fields]
    # A field the index does not map holds no value: nothing to ask.
    values: list[list[Any] | None] = [[] for _ in paths]
    mapped = [i for i, path in enumerate(paths) if kinds(path)]
    chunks = [mapped[k : k + FIELDS_PER_SEARCH] for k in range(0, len(mapped), FIELDS_PER_SEARCH)]
    bodies = [
        {
            "query": {"bool": {"filter": filters}},
            "size": 0,
            "aggs": {f"f{i}": {"terms": {"field": paths[i], "size": MAX_VALUES}} for i in chunk},
        }
        for chunk in chunks
    ]
    try:
        answers = search(bodies) if bodies else []
    except InputError:
        return set(range(len(literals)))  # values unknown: every item may match
    for chunk, answer in zip(chunks, answers, strict=True):
        found = (answer or {}).get("aggregations", {})
        for i in chunk:
            agg = found.get(f"f{i}")
            values[i] = _values(agg) if agg is not None else None  # refused: unknown
    keep.update(index.possible(values))
    return keep


def _values(agg: Mapping[str, Any]) -> list[Any] | None:
    """A terms aggregation's keys, or None when incomplete or case-ambiguous (docstring)."""
    if agg.get("sum_other_doc_count", 0):
        return None
    keys = [bucket["key"] for bucket in agg.get("buckets", [])]
    for key in keys:
        if not isinstance(key, str):
            return None
        if not key.isascii() and any(_ascii_look_alike(c) for c in key if not c.isascii()):
            return None
    return keys
