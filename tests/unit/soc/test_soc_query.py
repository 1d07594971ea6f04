"""The search language parser: grammar, errors with positions, and Hypothesis fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soc.query import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TERMS,
    And,
    MatchAll,
    Not,
    Or,
    QueryError,
    Range,
    Term,
    parse,
    render,
    terms,
)


def test_the_grammar():
    assert parse("") == MatchAll()
    assert parse("   ") == MatchAll()
    assert parse("brute") == Term(None, "brute")
    assert parse('"brute force"') == Term(None, "brute force", quoted=True)
    assert parse("host:web-1") == Term("host", "web-1")
    assert parse("host:web-*") == Term("host", "web-*")
    assert parse("host:web-*").wildcard and not parse('host:"web-*"').wildcard
    assert parse("severity:>=high") == Term("severity", "high", ">=")
    assert parse("count:<3") == Term("count", "3", "<")
    assert parse("count:[2 TO 5]") == Range("count", "2", "5")
    assert parse("last_seen:[2026-01-01 TO *]") == Range("last_seen", "2026-01-01", None)
    assert parse("a b") == And((Term(None, "a"), Term(None, "b")))
    assert parse("a AND b") == parse("a b")
    assert parse("a OR b c") == Or((Term(None, "a"), And((Term(None, "b"), Term(None, "c")))))
    assert parse("(a OR b) c") == And((Or((Term(None, "a"), Term(None, "b"))), Term(None, "c")))
    assert parse("NOT a") == Not(Term(None, "a"))
    assert parse("-status:resolved") == Not(Term("status", "resolved"))
    assert parse("not") == Term(None, "not")  # keywords only in capitals
    assert parse('title:"say \\"hi\\" \\\\ ok"') == Term("title", 'say "hi" \\ ok', quoted=True)
    assert parse("source.ip:10.0.0.1") == Term("source.ip", "10.0.0.1")
    assert parse("@timestamp:>now-1h") == Term("@timestamp", "now-1h", ">")
    assert parse("@timestamp:>2026-01-01T08:00:00Z") == Term(
        "@timestamp", "2026-01-01T08:00:00Z", ">"
    )
    assert parse("source.ip:2001:db8::1") == Term("source.ip", "2001:db8::1")
    assert parse("t:[2026-01-01T00:00Z TO *]") == Range("t", "2026-01-01T00:00Z", None)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("(a", 2, "parenthesis"),
        ("a:", 2, "no value"),
        ('"abc', 0, "not closed"),
        ("AND", 0, "unexpected"),
        ("a OR", 4, "ends"),
        (")", 0, "unexpected"),
        ("x:>a*", 3, "wildcard"),
        ("x:[1 TO", 7, "missing"),
        ("x:[1 2]", 5, "TO"),
        ("x:[a* TO b]", 3, "wildcard"),
        ("a TO b", 2, "TO"),
        ("a b:", 4, "no value"),
        ('"\\x"', 1, "escaped"),
        ("a:(b)", 2, "value"),
    ],
)
def test_errors_say_where(text, position, fragment):
    from tulou import i18n

    with i18n.using("en"), pytest.raises(QueryError) as caught:
        parse(text)
    assert caught.value.position == position, caught.value.message
    assert fragment in caught.value.message
    assert f"character {position + 1}" in caught.value.message


def test_errors_are_chinese_by_default():
    with pytest.raises(QueryError, match="查询第 3 个字符处有误：括号未闭合"):
        parse("(a")


def test_limits():
    with pytest.raises(QueryError):
        parse("a" * (MAX_LENGTH + 1))
    with pytest.raises(QueryError):
        parse(" ".join(["a"] * (MAX_TERMS + 1)))
    parse(" ".join(["a"] * MAX_TERMS))
    with pytest.raises(QueryError):
        parse("NOT " * (MAX_DEPTH + 2) + "a")
    with pytest.raises(QueryError):
        parse("(" * (MAX_DEPTH + 2) + "a" + ")" * (MAX_DEPTH + 2))


# -- Hypothesis -------------------------------------------------------------------------------

NAMES = st.sampled_from(["host", "src", "user", "count", "severity", "source.ip", "@timestamp"])
WORD = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_characters='()":[]\\-', exclude_categories=("Zs", "Cc", "Zl", "Zp")
    ),
    min_size=1,
    max_size=8,
).filter(lambda w: w not in ("AND", "OR", "NOT", "TO") and not w.isspace())
QUOTED = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=8
)


@st.composite
def leaves(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        quoted = draw(st.booleans())
        value = draw(QUOTED if quoted else WORD)
        return Term(None, value, quoted=quoted)
    if kind == 1:
        op = draw(st.sampled_from(["=", "<", "<=", ">", ">="]))
        quoted = draw(st.booleans())
        value = draw(QUOTED if quoted else WORD.filter(lambda w: "*" not in w))
        if not quoted and value[0] in "<>=":
            value = "x" + value  # host:<= would read as the operator <= without a value
        return Term(draw(NAMES), value, op, quoted)
    if kind == 2:
        low = draw(st.none() | QUOTED)
        high = draw(st.none() | QUOTED)
        return Range(draw(NAMES), low, high)
    value = draw(WORD.filter(lambda w: "*" not in w and w[0] not in "<>"))
    return Term(draw(NAMES), value + "*")


trees = st.recursive(
    leaves(),
    lambda children: st.one_of(
        children.map(Not),
        st.lists(children, min_size=2, max_size=3).map(lambda c: And(tuple(c))),
        st.lists(children, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_render_then_parse_gives_the_same_tree(tree):
    text = render(tree)
    if len(text) > MAX_LENGTH or len(terms(tree)) > MAX_TERMS:
        return
    assert parse(text) == tree


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_a_query_error(text):
    try:
        tree = parse(text)
    except QueryError as exc:
        assert 0 <= exc.position <= len(text)
        return
    # What parsed renders to text that parses to the same tree again.
    assert parse(render(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["a", "b:c", "(", ")", "AND", "OR", "NOT", "-", '"x y"', "n:[1 TO 2]", "n:>3", " "]
        ),
        max_size=30,
    )
)
def test_token_soup_parses_or_raises_a_query_error(parts):
    text = " ".join(parts)
    with contextlib.suppress(QueryError):
        parse(text)
