"""The search language of the SOC (alerts and events): a parser from text to a small syntax tree.

Grammar (docs/soc.md "Query language")::

    query    := or_expr EOF                      (empty text: match everything)
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*           (juxtaposition is AND)
    unary    := ("NOT" | "-") unary | primary
    primary  := "(" or_expr ")" | term
    term     := NAME ":" value                   field equals value (``*`` wildcards)
              | NAME ":" ("<" | "<=" | ">" | ">=") value
              | NAME ":" "[" bound "TO" bound "]" inclusive range, ``*`` = open end
              | value                            free text (contains, case-insensitive)
    value    := WORD | '"' chars '"'             (``\\"`` and ``\\\\`` escape in quotes;
                                                  a value's WORD may hold ``:``)

``AND``, ``OR``, ``NOT`` and ``TO`` are keywords only in capitals, so ``not`` is an ordinary
word. Field names are letters, digits, ``.``, ``_``, ``@`` and ``-``. The parser knows no
fields: :mod:`soc.query_sql` (alerts) and :mod:`soc.event_search` (events) check names and
values against their own fields and say which exist. Every error is a :class:`QueryError` (a
400) with the character position it refers to. Limits keep a query cheap to parse and to plan:
:data:`MAX_LENGTH` characters, :data:`MAX_TERMS` terms, :data:`MAX_DEPTH` nesting.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import Literal

from soc.i18n import _
from tulou.errors import UsageError

MAX_LENGTH = 2000
MAX_TERMS = 64
MAX_DEPTH = 24

Op = Literal["=", "<", "<=", ">", ">="]
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")
_SPECIAL = frozenset('()":[]')
_KEYWORDS = frozenset({"AND", "OR", "NOT", "TO"})


class QueryError(UsageError):
    """The query text is not valid; ``position`` is the 0-based character it refers to."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(
            _("query error at character {pos}: {message}").format(pos=position + 1, message=message)
        )
        self.position = position


@dataclass(frozen=True, slots=True)
class Term:
    """``field`` compared with ``value`` (``field`` None: free text). ``quoted`` values have no
    wildcards."""

    field: str | None
    value: str
    op: Op = "="
    quoted: bool = False
    position: int = _field(default=0, compare=False)

    @property
    def wildcard(self) -> bool:
        return not self.quoted and "*" in self.value


@dataclass(frozen=True, slots=True)
class Range:
    """``low <= field <= high``; None is an open end."""

    field: str
    low: str | None
    high: str | None
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MatchAll:
    pass


type Node = Term | Range | Not | And | Or | MatchAll


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(" ")" "AND" "OR" "NOT" "-" "TERM"
    position: int
    node: Term | Range | None = None


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _word(self, *, value: bool = False) -> str:
        """A run of ordinary characters; in a value (after ``field:``) ``:`` is one of them, so
        times and IPv6 addresses need no quotes (``@timestamp:>2026-01-01T08:00:00Z``)."""
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch.isspace() or (ch in _SPECIAL and not (value and ch == ":")):
                break
            self.pos += 1
        return self.text[start : self.pos]

    def _quoted(self) -> str:
        start = self.pos
        self.pos += 1  # the opening quote
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(self.text):
                    break
                nxt = self.text[self.pos + 1]
                if nxt not in ('"', "\\"):
                    raise QueryError(_('only \\" and \\\\ may be escaped'), self.pos)
                out.append(nxt)
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise QueryError(_("a quoted value is not closed"), start)

    def _value(self) -> tuple[str, bool, int]:
        self._skip_space()
        position = self.pos
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            return self._quoted(), True, position
        word = self._word(value=True)
        if not word:
            raise QueryError(_("a value is missing"), position)
        return word, False, position

    def _range(self, field: str, position: int) -> Range:
        self.pos += 1  # "["
        low, low_quoted, low_pos = self._value()
        self._skip_space()
        if self.text[self.pos : self.pos + 2] != "TO":
            raise QueryError(_("a range is [LOW TO HIGH]"), self.pos)
        self.pos += 2
        high, high_quoted, high_pos = self._value()
        self._skip_space()
        if self.pos >= len(self.text) or self.text[self.pos] != "]":
            raise QueryError(_("a range ends with ]"), self.pos)
        self.pos += 1
        for value, quoted, at in ((low, low_quoted, low_pos), (high, high_quoted, high_pos)):
            if not quoted and "*" in value and value != "*":
                raise QueryError(_("a range bound cannot hold a wildcard"), at)
        return Range(
            field,
            None if low == "*" and not low_quoted else low,
            None if high == "*" and not high_quoted else high,
            position,
        )

    def _term(self) -> Term | Range:
        position = self.pos
        if self.text[self.pos] == '"':
            return Term(None, self._quoted(), quoted=True, position=position)
        word = self._word()
        if not word:
            raise QueryError(_("unexpected {char!r}").format(char=self.text[self.pos]), position)
        if self.pos >= len(self.text) or self.text[self.pos] != ":":
            return Term(None, word, position=position)
        if not set(word) <= _NAME_CHARS:
            raise QueryError(_("{name!r} is not a field name").format(name=word), position)
        self.pos += 1  # ":"
        if self.pos < len(self.text) and self.text[self.pos] == "[":
            return self._range(word, position)
        op: Op = "="
        ops: tuple[Op, ...] = ("<=", ">=", "<", ">")
        for candidate in ops:
            if self.text.startswith(candidate, self.pos):
                op = candidate
                self.pos += len(candidate)
                break
        if self.pos >= len(self.text) or self.text[self.pos].isspace():
            raise QueryError(_("field {name!r} has no value").format(name=word), self.pos)
        value, quoted, at = self._value()
        if op != "=" and not quoted and "*" in value:
            raise QueryError(_("a comparison cannot hold a wildcard"), at)
        return Term(word, value, op, quoted, position)

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        while True:
            self._skip_space()
            if self.pos >= len(self.text):
                return out
            ch = self.text[self.pos]
            start = self.pos
            if ch in "()":
                out.append(_Token(ch, start))
                self.pos += 1
                continue
            if ch in "[]:":
                raise QueryError(_("unexpected {char!r}").format(char=ch), start)
            if (
                ch == "-"
                and self.pos + 1 < len(self.text)
                and not self.text[self.pos + 1].isspace()
            ):
                out.append(_Token("-", start))
                self.pos += 1
                continue
            if ch != '"':
                save = self.pos
                word = self._word()
                if word in _KEYWORDS and (self.pos >= len(self.text) or self.text[self.pos] != ":"):
                    if word == "TO":
                        raise QueryError(_("TO belongs inside a range [LOW TO HIGH]"), start)
                    out.append(_Token(word, start))
                    continue
                self.pos = save
            out.append(_Token("TERM", start, self._term()))


class _Parser:
    def __init__(self, tokens: list[_Token], length: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.length = length
        self.terms = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _end_position(self) -> int:
        return self.length

    def parse(self) -> Node:
        if not self.tokens:
            return MatchAll()
        node = self._or(0)
        extra = self._peek()
        if extra is not None:
            raise QueryError(_("unexpected {token!r}").format(token=extra.kind), extra.position)
        return node

    def _or(self, depth: int) -> Node:
        parts = [self._and(depth)]
        while (tok := self._peek()) is not None and tok.kind == "OR":
            self.i += 1
            parts.append(self._and(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _and(self, depth: int) -> Node:
        parts = [self._unary(depth)]
        while (tok := self._peek()) is not None and tok.kind not in ("OR", ")"):
            if tok.kind == "AND":
                self.i += 1
            parts.append(self._unary(depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            tok = self._peek()
            raise QueryError(
                _("the query nests deeper than {n} levels").format(n=MAX_DEPTH),
                tok.position if tok else self.length,
            )
        tok = self._peek()
        if tok is None:
            raise QueryError(_("the query ends where a term is expected"), self.length)
        if tok.kind in ("NOT", "-"):
            self.i += 1
            return Not(self._unary(depth + 1))
        return self._primary(depth)

    def _primary(self, depth: int) -> Node:
        tok = self._peek()
        assert tok is not None
        if tok.kind == "(":
            self.i += 1
            node = self._or(depth + 1)
            close = self._peek()
            if close is None or close.kind != ")":
                raise QueryError(
                    _("a parenthesis is not closed"), close.position if close else self.length
                )
            self.i += 1
            return node
        if tok.kind == "TERM":
            self.i += 1
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise QueryError(_("more than {n} terms").format(n=MAX_TERMS), tok.position)
            assert tok.node is not None
            return tok.node
        raise QueryError(_("unexpected {token!r}").format(token=tok.kind), tok.position)


def parse(text: str) -> Node:
    """The syntax tree of ``text``; raises :class:`QueryError` (400) with a position."""
    if len(text) > MAX_LENGTH:
        raise QueryError(_("a query is at most {n} characters").format(n=MAX_LENGTH), MAX_LENGTH)
    return _Parser(_Lexer(text).tokens(), len(text)).parse()


def terms(node: Node) -> list[Term | Range]:
    """Every term of the tree, in order (for checks that look at fields and values)."""
    if isinstance(node, Term | Range):
        return [node]
    if isinstance(node, Not):
        return terms(node.child)
    if isinstance(node, And | Or):
        return [t for child in node.children for t in terms(child)]
    return []


def render(node: Node) -> str:
    """Canonical text of a tree; ``parse(render(t)) == t`` (tested with Hypothesis)."""
    if isinstance(node, MatchAll):
        return ""
    if isinstance(node, Term):
        value = _render_value(node.value, node.quoted)
        if node.field is None:
            return value
        return f"{node.field}:{'' if node.op == '=' else node.op}{value}"
    if isinstance(node, Range):
        low = "*" if node.low is None else _render_value(node.low, True)
        high = "*" if node.high is None else _render_value(node.high, True)
        return f"{node.field}:[{low} TO {high}]"
    if isinstance(node, Not):
        return f"NOT {_group(node.child)}"
    if isinstance(node, And):
        return " AND ".join(_group(c) for c in node.children)
    return " OR ".join(_group(c) for c in node.children)


def _group(node: Node) -> str:
    return f"({render(node)})" if isinstance(node, And | Or) else render(node)


def _render_value(value: str, quoted: bool) -> str:
    if quoted:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value
