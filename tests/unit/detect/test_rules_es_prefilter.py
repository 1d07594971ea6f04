"""The Elasticsearch literal pre-filter's decisions, from given distinct values: which items it
keeps (exactly those whose tree holds on the literals found in any value), how unknown, long,
non-ASCII and non-keyword values are treated, and the search it sends. The same invariant on a
real node (with and without the pre-filter, same matches) is in
tests/integration/detect/test_rules_es_prefilter.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detect.rules.es_prefilter import (
    FIELDS_PER_SEARCH,
    MAX_VALUES,
    ascii_tree,
    partition_query,
    possible_items,
)
from detect.rules.literals import AllOf, AnyOf, Lit, LiteralIndex, Tree, texts
from tulou.errors import InputError

_FIELDS = ("f", "g")
_WORDS = ("ab", "b", "abc", "zz", "é", "[")
_trees = st.recursive(
    st.builds(Lit, st.sampled_from(_FIELDS), st.sampled_from(_WORDS)),
    lambda inner: st.one_of(
        st.builds(AllOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(AnyOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)
_value = st.lists(st.sampled_from(("ab", "B", "Zz", "q", "x")), max_size=3).map("".join)


def _holds(tree: Tree, values: dict[str, list[str] | None]) -> bool:
    if isinstance(tree, Lit):
        offered = values[tree.field]
        if offered is None:
            return True
        return any(tree.literal in text for v in offered for text in texts(v) or [])
    results = [_holds(part, values) for part in tree.parts]
    return all(results) if isinstance(tree, AllOf) else any(results)


@settings(max_examples=300, deadline=None)
@given(
    trees=st.lists(st.one_of(st.none(), _trees), min_size=1, max_size=6),
    f=st.one_of(st.none(), st.lists(_value, max_size=4)),
    g=st.one_of(st.none(), st.lists(_value, max_size=4)),
)
def test_possible_keeps_exactly_the_items_whose_literals_hold_somewhere(
    trees: list[Tree | None], f: list[str] | None, g: list[str] | None
) -> None:
    index = LiteralIndex(trees, lambda name: True)
    values = {"f": f, "g": g}
    got = set(index.possible([values[name] for name in index.fields]))
    expected = {i for i, t in enumerate(trees) if t is not None and _holds(t, values)}
    assert got == expected
    assert not got & set(index.unfiltered)


def test_ascii_tree_drops_non_ascii_literals_soundly() -> None:
    assert ascii_tree(Lit("f", "é")) is None
    assert ascii_tree(AllOf((Lit("f", "é"), Lit("g", "ab")))) == Lit("g", "ab")
    assert ascii_tree(AnyOf((Lit("f", "é"), Lit("g", "ab")))) is None  # nothing provable
    assert ascii_tree(Lit("f", "\u2013decode")) == Lit("f", "\u2013decode")  # a dash: caseless
    assert ascii_tree(Lit("f", "\u212a")) is None  # the Kelvin sign folds to k
    assert ascii_tree(AnyOf((Lit("f", "x"), Lit("g", "ab")))) == AnyOf(
        (Lit("f", "x"), Lit("g", "ab"))
    )


def test_partition_query_uses_the_rules_own_term_form() -> None:
    def resolve(name: str) -> tuple[str, str]:
        return name, "long" if name == "winlog.event_id" else "keyword"

    clauses = partition_query(
        {"event.dataset": frozenset({"evtx"}), "winlog.event_id": frozenset({"1"})}, resolve
    )
    assert clauses == [
        {
            "bool": {
                "should": [
                    {"term": {"event.dataset": {"value": "evtx", "case_insensitive": True}}}
                ],
                "minimum_should_match": 1,
            }
        },
        {"bool": {"should": [{"term": {"winlog.event_id": "1"}}], "minimum_should_match": 1}},
    ]


class _Index:
    """Distinct values per field, answered like a terms aggregation of a one-shard index."""

    def __init__(self, values: dict[str, list[str]], kinds: dict[str, str]) -> None:
        self.values = values
        self.kinds = kinds
        self.bodies: list[dict[str, Any]] = []
        self.refused: set[str] = set()

    def resolve(self, name: str) -> tuple[str, str]:
        kind = self.kinds.get(name, "keyword")
        return name, "keyword" if kind == "keyword" else kind

    def types(self, path: str) -> set[str]:
        return {self.kinds.get(path, "keyword")} if path in self.values else set()

    def search(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        answers: list[dict[str, Any] | None] = []
        for body in bodies:
            self.bodies.append(body)
            out = {}
            for name, agg in body["aggs"].items():
                field, size = agg["terms"]["field"], agg["terms"]["size"]
                if field in self.refused:
                    break
                values = self.values[field]
                out[name] = {
                    "buckets": [{"key": v, "doc_count": 1} for v in values[:size]],
                    "sum_other_doc_count": max(0, len(values) - size),
                }
            else:
                answers.append({"aggregations": out})
                continue
            answers.append(None)  # Elasticsearch refused this body
        return answers


def _keep(index: _Index, trees: list[Tree | None]) -> set[int]:
    return possible_items(trees, index.types, index.resolve, index.search, [{"match_all": {}}])


def test_items_are_dropped_only_on_complete_ascii_keyword_values() -> None:
    index = _Index(
        {
            "cmd": ["whoami /all", "net user"],
            "many": [f"v{i}" for i in range(MAX_VALUES + 1)],
            "uni": ["Ünicode \U0001f937", "plain"],
            "kelvin": ["\u212aelvin"],
            "port": ["445"],
        },
        {"port": "long"},
    )
    trees: list[Tree | None] = [
        Lit("cmd", "whoami"),  # 0: present
        Lit("cmd", "mimikatz"),  # 1: absent -> dropped
        Lit("many", "zzz"),  # 2: field has too many values -> kept
        Lit("kelvin", "zzz"),  # 3: a value with a K-sign (case folds to k) -> kept
        Lit("port", "0445"),  # 4: not a keyword field (a term may match 445) -> kept
        Lit("unmapped", "x"),  # 5: no event has the field -> dropped
        AllOf((Lit("cmd", "net "), Lit("cmd", "mimikatz"))),  # 6: dropped
        None,  # 7: nothing provable -> kept
        Lit("cmd", "é"),  # 8: a cased non-ASCII literal -> nothing provable -> kept
        Lit("uni", "\U0001f937"),  # 9: a caseless literal (emoji), present -> kept
        Lit("cmd", "\U0001f937"),  # 10: absent -> dropped
        Lit("uni", "ünicode"),  # 11: cased non-ASCII: not used -> kept
        Lit("uni", "zzz"),  # 12: non-ASCII values without ASCII look-alikes are read -> dropped
    ]
    assert _keep(index, trees) == {0, 2, 3, 4, 7, 8, 9, 11}
    assert all(b["size"] == 0 for b in index.bodies)
    assert all(b["query"] == {"bool": {"filter": [{"match_all": {}}]}} for b in index.bodies)
    fields = sorted(a["terms"]["field"] for b in index.bodies for a in b["aggs"].values())
    assert fields == ["cmd", "kelvin", "many", "uni"]


def test_no_search_without_literal_fields_and_all_kept_when_refused() -> None:
    index = _Index({"cmd": ["x"]}, {})
    assert _keep(index, [None, None]) == {0, 1} and index.bodies == []

    def refuse(bodies: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        raise InputError("Elasticsearch refused the searches")

    keep = possible_items([Lit("cmd", "y")], index.types, index.resolve, refuse, [])
    assert keep == {0}


def test_fields_are_split_over_searches_and_a_refused_one_is_unknown() -> None:
    """At most FIELDS_PER_SEARCH fields a body (under max_buckets); a refused body's fields
    hold every literal, the other bodies still decide."""
    names = [f"f{i}" for i in range(2 * FIELDS_PER_SEARCH + 1)]
    index = _Index({name: ["x"] for name in names}, {})
    index.refused = {"f0"}
    trees: list[Tree | None] = [Lit(name, "zzz") for name in names]
    kept = _keep(index, trees)
    first = {i for i, b in enumerate(index.bodies) if "f0" in str(b)}
    assert len(index.bodies) == 3 and first == {0}
    assert all(len(b["aggs"]) <= FIELDS_PER_SEARCH for b in index.bodies)
    assert all(a["terms"]["size"] == MAX_VALUES for b in index.bodies for a in b["aggs"].values())
    in_first = {int(a["terms"]["field"][1:]) for a in index.bodies[0]["aggs"].values()}
    assert kept == in_first  # the refused body's fields are unknown: their rules are kept
