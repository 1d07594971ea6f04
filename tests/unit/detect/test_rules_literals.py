"""The literal pre-filter: necessary literals derived from rules, the automaton index, and the
invariant that matters: evaluation with the pre-filter returns exactly the matches without it
(Hypothesis, random events built from the rules' own literals on the real SQLite store)."""

from __future__ import annotations

import functools
import random  # noqa: TID251 - a reproducible rule sample, nothing secret
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaRule
from sigma.types import SigmaRegularExpression

from detect.rules.compile import PARTITION_FIELDS, Compilation, compile_rules
from detect.rules.es_prefilter import ascii_tree
from detect.rules.evaluate import run_rules
from detect.rules.literals import (
    AllOf,
    AnyOf,
    Lit,
    LiteralIndex,
    Tree,
    fold,
    need,
    prune,
    regex_tree,
    texts,
)
from detect.rules.loader import load_rules
from detect.rules.pipelines import combined, load_pipelines
from detect.rules.sqlite_target import SqliteRuleTarget
from detect.stores.sqlite import SQLiteStore
from tests.conftest import SHARED
from tulou.events import event_id, format_timestamp

T0 = datetime(2025, 5, 1, tzinfo=UTC)
SYSMON = {
    "event.dataset": "evtx",
    "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
    "winlog.event_id": 1,
}
IMAGE = "winlog.event_data.Image"
CMD = "winlog.event_data.CommandLine"

HEAD = """\
title: {title}
id: {id}
status: test
level: high
logsource:
  product: windows
  category: process_creation
detection:
"""

#: Rule bodies covering every construct the derivation handles (and some it must refuse).
BODIES = {
    "endswith-or-original": """
  selection_img:
    - Image|endswith: '\\certutil.exe'
    - OriginalFileName: 'CertUtil.exe'
  selection_cli:
    CommandLine|contains|all:
      - 'urlcache'
      - ' -f '
  condition: all of selection_*
""",
    "startswith-cased": """
  selection:
    CommandLine|startswith|cased: 'PowerShell -enc'
  condition: selection
""",
    "windash": """
  selection:
    CommandLine|windash|contains: '-decode'
  condition: selection
""",
    "not-only": """
  selection:
    Image|endswith: '.exe'
  filter:
    CommandLine|contains: 'svchost'
  condition: not filter and not selection
""",
    "regex-and-literal": """
  selection:
    CommandLine|re: '[a-z]{3}\\d+'
    Image|contains: 'tmp'
  condition: selection
""",
    "regex-only": """
  selection:
    CommandLine|re: '(?i)évil'
  condition: selection
""",
    "or-with-unprovable": """
  sel_a:
    CommandLine|contains: 'mimikatz'
  sel_b:
    CommandLine|re: 'kiwi'
  condition: sel_a or sel_b
""",
    "wildcards-inside": """
  selection:
    CommandLine: '*rundll32*,#1*'
    Image|endswith: 'ßtr?ße.exe'
  condition: selection
""",
    "unicode-equality": """
  selection:
    User: 'ÉCOLE\\Admin'
  condition: selection
""",
    "keyword": """
  keywords:
    - 'Invoke-Mimikatz'
  condition: keywords
""",
    "list-field": """
  selection:
    ParentCommandLine|contains: 'wscript'
    CurrentDirectory|endswith: '\\Temp\\'
  condition: selection
""",
    "one-of-them": """
  a:
    CommandLine|contains: 'vssadmin'
  b:
    Image|endswith: '\\wbadmin.exe'
  c:
    Product: 'Sysinternals'
  condition: 1 of them
""",
}


def _write_rules(root: Path) -> None:
    for number, (slug, body) in enumerate(sorted(BODIES.items())):
        rule_id = f"00000000-0000-4000-8000-{number:012d}"
        text = HEAD.format(title=f"literal test {slug}", id=rule_id) + body.lstrip("\n")
        (root / f"{slug}.yml").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return combined(load_pipelines().values())


@pytest.fixture(scope="module")
def compilation(tmp_path_factory: pytest.TempPathFactory, pipeline: Any) -> Compilation:
    root = tmp_path_factory.mktemp("literal-rules")
    _write_rules(root)
    ruleset = load_rules([root])
    assert ruleset.problems == []
    store = SQLiteStore(":memory:")
    try:
        result = compile_rules(ruleset, "sqlite", SqliteRuleTarget(store, pipeline).backend)
    finally:
        store.close()
    assert result.problems == []
    assert len(result.rules) == len(BODIES)
    return result


def _tree(compilation: Compilation, slug: str) -> Tree | None:
    (rule,) = [r for r in compilation.rules.values() if r.rule.title.endswith(f" {slug}")]
    (tree,) = rule.literals
    return tree


def _no_partition(field: str) -> bool:
    return field not in PARTITION_FIELDS


# -- derivation -------------------------------------------------------------------------------


def test_and_of_selections_keeps_every_required_literal(compilation: Compilation) -> None:
    tree = prune(_tree(compilation, "endswith-or-original"), _no_partition)
    assert isinstance(tree, AllOf)
    flat = repr(tree)
    assert "'\\\\certutil.exe'" in flat and "'certutil.exe'" in flat  # folded
    assert "'urlcache'" in flat and "' -f '" in flat
    # the most selective necessary set: the two-literal OR, or one ``all`` literal
    chosen = need(tree, _no_partition)
    assert chosen in (
        frozenset(
            {(IMAGE, "\\certutil.exe"), ("winlog.event_data.OriginalFileName", "certutil.exe")}
        ),
        frozenset({(CMD, "urlcache")}),
        frozenset({(CMD, " -f ")}),
    )


def test_negation_and_regex_alone_prove_nothing(compilation: Compilation) -> None:
    assert prune(_tree(compilation, "not-only"), _no_partition) is None
    assert prune(_tree(compilation, "regex-only"), _no_partition) is None
    assert prune(_tree(compilation, "or-with-unprovable"), _no_partition) is None


def test_regex_next_to_a_literal_keeps_the_literal(compilation: Compilation) -> None:
    assert prune(_tree(compilation, "regex-and-literal"), _no_partition) == Lit(IMAGE, "tmp")


def test_wildcards_split_a_value_into_required_chunks(compilation: Compilation) -> None:
    tree = prune(_tree(compilation, "wildcards-inside"), _no_partition)
    assert isinstance(tree, AllOf)
    leaves = set(tree.parts)
    assert {
        Lit(CMD, "rundll32"),
        Lit(CMD, ",#1"),
        Lit(IMAGE, "ßtr"),
        Lit(IMAGE, "ße.exe"),
    } <= leaves


def test_expansions_are_alternatives(compilation: Compilation) -> None:
    tree = prune(_tree(compilation, "windash"), _no_partition)
    assert isinstance(tree, AnyOf)
    assert Lit(CMD, "-decode") in tree.parts and Lit(CMD, "/decode") in tree.parts


def test_keywords_read_the_original_event(compilation: Compilation) -> None:
    assert prune(_tree(compilation, "keyword"), _no_partition) == Lit(
        "event.original", "invoke-mimikatz"
    )


def test_fields_that_cannot_be_scanned_are_dropped() -> None:
    tree = AllOf((Lit("a", "x"), AnyOf((Lit("b", "y"), Lit("c", "z")))))
    assert prune(tree, lambda f: f != "c") == Lit("a", "x")
    assert prune(tree, lambda f: f == "c") is None
    assert need(tree, lambda f: True) in (frozenset({("a", "x")}),)


def test_fold_is_ascii_only_like_sqlite() -> None:
    assert fold("ÉCOLE\\Admin") == "École\\admin"
    assert fold("İSTANBUL") == "İstanbul"
    assert fold("\u212a") == "\u212a"  # Kelvin sign: SQLite's LIKE does not fold it either


def test_texts_of_stored_values() -> None:
    assert texts(None) == []
    assert texts("AbC") == ["abc"]
    assert texts('["X", 2, null]') == ['["x", 2, null]', "x", "2"]
    assert texts("[not json") is None
    assert texts('["a", 1.5]') is None  # SQLite's text of a real may differ from Python's
    assert texts(7) == ["7"]
    assert texts(7.0) is None
    assert texts(b"raw") is None


# -- the index --------------------------------------------------------------------------------

_FIELDS = ("f", "g")
_WORDS = ("ab", "b", "abc", "Zz", "é", "[", '"')
_trees = st.recursive(
    st.builds(Lit, st.sampled_from(_FIELDS), st.sampled_from([w.lower() for w in _WORDS])),
    lambda inner: st.one_of(
        st.builds(AllOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(AnyOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)
_values = st.one_of(
    st.none(),
    st.lists(st.sampled_from((*_WORDS, "x", "AB")), max_size=4).map("".join),
    st.lists(st.sampled_from(("ab", "Zz", "q")), min_size=2, max_size=3).map(
        lambda xs: "[" + ", ".join(f'"{x}"' for x in xs) + "]"
    ),
    st.integers(-5, 500),
    st.floats(allow_nan=False),
)


def _holds(tree: Tree, row: dict[str, Any]) -> bool:
    if isinstance(tree, Lit):
        offered = texts(row.get(tree.field))
        return offered is None or any(tree.literal in text for text in offered)
    results = [_holds(part, row) for part in tree.parts]
    return all(results) if isinstance(tree, AllOf) else any(results)


@settings(max_examples=300, deadline=None)
@given(
    trees=st.lists(st.one_of(st.none(), _trees), min_size=1, max_size=6),
    rows=st.lists(st.tuples(_values, _values), min_size=1, max_size=6),
)
def test_index_nominates_exactly_the_items_whose_literals_hold(
    trees: list[Tree | None], rows: list[tuple[Any, Any]]
) -> None:
    index = LiteralIndex(trees, lambda f: True)
    assert set(index.unfiltered) == {i for i, t in enumerate(trees) if t is None}
    for row in rows:
        values = dict(zip(_FIELDS, row, strict=True))
        got = set(index.candidates([values.get(f) for f in index.fields]))
        expected = {i for i, t in enumerate(trees) if t is not None and _holds(t, values)}
        assert got == expected


# -- the invariant: same matches with and without the pre-filter ------------------------------

_PIECES = (
    "\\certutil.exe", "CertUtil.exe", "urlcache", " -f ", "PowerShell -enc", "powershell -ENC",
    "-decode", "/decode", "\u2013decode", "svchost", ".exe", "abc123", "tmp", "TMP", "évil",
    "ÉVIL", "mimikatz", "kiwi", "rundll32", ",#1", "ßtraße.exe", "STRASSE.EXE", "ÉCOLE\\Admin",
    "école\\admin", "École\\ADMIN", "Invoke-Mimikatz", "wscript", "\\Temp\\", "\\temp\\",
    "vssadmin", "\\wbadmin.exe", "Sysinternals", "SYSINTERNALS", "\u212aelvin", " ", "x", "%", "_",
)  # fmt: skip
_piece = st.sampled_from(_PIECES)
_text = st.one_of(_piece, st.lists(_piece, min_size=2, max_size=4).map("".join))
_field_value = st.one_of(
    _piece,  # exact values: equality rules need them
    _text,
    st.lists(_text, min_size=2, max_size=3),  # stored as a JSON array, matched element-wise
    st.none(),
    st.integers(0, 99),
)
_EVENT_FIELDS = (
    "Image", "OriginalFileName", "CommandLine", "User", "ParentCommandLine", "CurrentDirectory",
    "Product",
)  # fmt: skip


@st.composite
def _events(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 12))):
        event: dict[str, Any] = {
            "@timestamp": format_timestamp(T0 + timedelta(seconds=i)),
            "event.id": event_id("literal-test", i),
            **SYSMON,
        }
        for name in _EVENT_FIELDS:
            value = draw(_field_value)
            if value is not None:
                event[f"winlog.event_data.{name}"] = value
        event["event.original"] = draw(_text)
        out.append(event)
    return out


def _matches(
    compilation: Compilation, pipeline: Any, events: list[dict[str, Any]], on: bool
) -> Any:
    store = SQLiteStore(":memory:")
    try:
        assert store.write(events).stored == len(events)
        target = SqliteRuleTarget(store, pipeline, literal_prefilter=on)
        result = run_rules(compilation, target, T0, T0 + timedelta(hours=1))
        assert result.errors == {}
        return sorted((a.rule_id, a.event_ids) for a in result.alerts)
    finally:
        store.close()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=_events())
def test_prefiltered_evaluation_equals_unfiltered(
    compilation: Compilation, pipeline: Any, events: list[dict[str, Any]]
) -> None:
    assert _matches(compilation, pipeline, events, True) == _matches(
        compilation, pipeline, events, False
    )


def test_prefiltered_evaluation_still_finds_matches(
    compilation: Compilation, pipeline: Any
) -> None:
    event = {
        "@timestamp": format_timestamp(T0),
        "event.id": event_id("literal-test", 0),
        **SYSMON,
        "winlog.event_data.Image": "C:\\Windows\\System32\\CERTUTIL.EXE",
        "winlog.event_data.CommandLine": "certutil -URLCACHE -f http://x/evil -DECODE",
        "winlog.event_data.User": ["ÉCOLE\\admin", "other"],
        "event.original": "... invoke-mimikatz ...",
    }
    found = _matches(compilation, pipeline, [event], True)
    titles = {compilation.rules[rule_id].rule.title for rule_id, _ in found}
    assert titles == {
        "literal test endswith-or-original",
        "literal test windash",
        "literal test unicode-equality",
        "literal test keyword",
    }


# -- the same invariant on a sample of the public SigmaHQ corpus ------------------------------

SIGMAHQ = SHARED / "data" / "sigmahq"


def _leaves(tree: Tree | None) -> list[Lit]:
    if tree is None:
        return []
    if isinstance(tree, Lit):
        return [tree]
    return [leaf for part in tree.parts for leaf in _leaves(part)]


@pytest.fixture(scope="module")
def sigmahq_sample(pipeline: Any) -> tuple[Compilation, dict[str, list[str]]]:
    """150 random Windows process-creation rules, and their literals per field."""
    folder = SIGMAHQ / "rules" / "windows" / "process_creation"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the public corpora live beside the repository)")
    ruleset = load_rules([folder])
    ruleset.rules = random.Random(5).sample(sorted(ruleset.rules, key=lambda r: r.rule_id), 150)
    store = SQLiteStore(":memory:")
    try:
        result = compile_rules(ruleset, "sqlite", SqliteRuleTarget(store, pipeline).backend)
    finally:
        store.close()
    assert len(result.rules) > 140
    vocabulary: dict[str, set[str]] = {}
    for rule in result.rules.values():
        for tree in rule.literals:
            for leaf in _leaves(tree):
                if leaf.field not in PARTITION_FIELDS:
                    vocabulary.setdefault(leaf.field, set()).add(leaf.literal)
    return result, {name: sorted(words) for name, words in sorted(vocabulary.items())}


def _case(word: str, how: str) -> str:
    return word.upper() if how == "upper" else word.title() if how == "title" else word


@st.composite
def _corpus_events(draw: st.DrawFn, vocabulary: dict[str, list[str]]) -> list[dict[str, Any]]:
    names = sorted(vocabulary)
    out = []
    for i in range(draw(st.integers(1, 10))):
        event: dict[str, Any] = {
            "@timestamp": format_timestamp(T0 + timedelta(seconds=i)),
            "event.id": event_id("literal-corpus", i),
            **SYSMON,
        }
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True)):
            words = draw(st.lists(st.sampled_from(vocabulary[name]), min_size=1, max_size=3))
            cases = draw(st.lists(st.sampled_from(("as is", "upper", "title")), min_size=3))
            glue = draw(st.sampled_from(("", " ", "\\", "x")))
            event[name] = glue.join(_case(w, c) for c, w in zip(cases, words, strict=False))
        out.append(event)
    return out


@pytest.mark.corpus
@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_prefilter_equals_unfiltered_on_sigmahq_rules(
    sigmahq_sample: tuple[Compilation, dict[str, list[str]]], pipeline: Any, data: st.DataObject
) -> None:
    compilation, vocabulary = sigmahq_sample
    events = data.draw(_corpus_events(vocabulary))
    assert _matches(compilation, pipeline, events, True) == _matches(
        compilation, pipeline, events, False
    )


# -- literals of regular expressions (used by the Elasticsearch pre-filter) -------------------

_REGEXES = (
    r".*cmd.{0,5}(/c|/r).+powershell.+(\$\{?input\}?|noexit).+\"",
    r"a(b|c)+d\.x{2}",
    r"(?i)Invoke-(Expression|WebRequest)",
    r"x?yz(ab)*cd",
    r"(foo|)bar[0-9]+",
    r"(?:ab|cd)ef\bgh",
    r"(?=look)ahead(?<!x)tail",
    r"\\Windows\\(Temp|Tasks)\\[^\\]+\.exe$",
    r"^(?P<n>ab)c(?P=n)d",
    r"[A-Z]{3}-\d{4}(?:-[A-Z]+)?",
    r"(?i)(mimi|kiwi)katz|sekurlsa::",
    r"(a|b(c|d)e)+f",
    r"(?>atomic)group",
    r"possessive++x",
)


def _folded_holds(tree: Tree, text: str) -> bool:
    if isinstance(tree, Lit):
        return tree.literal in fold(text)
    results = [_folded_holds(part, text) for part in tree.parts]
    return all(results) if isinstance(tree, AllOf) else any(results)


def test_regex_tree_derivation() -> None:
    assert regex_tree("f", r"a(b|c)+d\.x{2}") == AllOf(
        (Lit("f", "a"), Lit("f", "d."), Lit("f", "x"))
    )
    assert regex_tree("f", r"(foo|)bar") == Lit("f", "bar")
    assert regex_tree("f", r"(?i)ABC|def") == AnyOf((Lit("f", "abc"), Lit("f", "def")))
    assert regex_tree("f", r"[a-z]+\d*") is None
    assert regex_tree("f", r"(unclosed") is None


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_regex_literals_occur_in_every_match(data: st.DataObject) -> None:
    """Any string the pattern finds (Hypothesis builds them) holds the pattern's literals."""
    pattern = data.draw(st.sampled_from(_REGEXES))
    text = data.draw(st.from_regex(pattern, fullmatch=False))
    assert re.search(pattern, text)
    tree = ascii_tree(regex_tree("f", pattern))  # what the Elasticsearch pre-filter uses
    assert tree is None or _folded_holds(tree, text)


@functools.cache
def _sigmahq_regexes() -> tuple[str, ...]:
    """The ``|re`` patterns of the SigmaHQ process-creation rules (with provable literals)."""
    folder = SIGMAHQ / "rules" / "windows" / "process_creation"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the public corpora live beside the repository)")
    found: set[str] = set()

    def walk(node: Any) -> None:
        value = getattr(node, "value", None)
        if isinstance(value, SigmaRegularExpression):
            found.add(str(value.regexp))
        for arg in getattr(node, "args", None) or ():
            walk(arg)

    for loaded in load_rules([folder]).rules:
        sigma = loaded.sigma()
        if isinstance(sigma, SigmaRule):
            for condition in sigma.detection.parsed_condition:
                walk(condition.parsed)
    return tuple(sorted(p for p in found if regex_tree("f", p) is not None))


@pytest.mark.corpus
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_regex_literals_occur_in_every_match_of_sigmahq_regexes(data: st.DataObject) -> None:
    pattern = data.draw(st.sampled_from(_sigmahq_regexes()))
    text = data.draw(st.from_regex(pattern, fullmatch=False))
    assert re.search(pattern, text)
    tree = ascii_tree(regex_tree("f", pattern))
    assert tree is None or _folded_holds(tree, text)
