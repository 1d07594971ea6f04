"""Sigma regular expressions (PCRE-like, unanchored search) on the two stores.

SQLite: SQLite has no REGEXP function; :func:`register_sqlite_functions` registers one with
Python's ``re.search`` semantics (what Sigma means), ``NULL`` never matching.

Elasticsearch: Lucene's ``regexp`` is anchored and knows a smaller syntax. :func:`to_lucene`
rewrites a pattern into an equivalent Lucene one, or raises
:class:`~sigma.exceptions.SigmaFeatureNotSupportedByBackendError` for what Lucene cannot
express (look-arounds, back-references, word boundaries, inner anchors): a rule that would mean
something different on Elasticsearch fails to convert and is reported, instead of silently
matching differently.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

#: Characters with a meaning in Lucene's regexp syntax that a PCRE pattern may hold literally.
_LUCENE_LITERALS = '"'
_CLASS_SHORTHANDS = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[a-zA-Z0-9_]",
    "W": "[^a-zA-Z0-9_]",
    "s": "[ \t\n\r\f\v]",
    "S": "[^ \t\n\r\f\v]",
}
_CLASS_INSIDE = {"d": "0-9", "w": "a-zA-Z0-9_", "s": " \t\n\r\f\v"}
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: object) -> int:
    if value is None or pattern is None:
        return 0
    try:
        return 1 if _compiled(pattern).search(str(value)) else 0
    except re.error:
        return 0


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Register ``REGEXP`` (``X REGEXP Y`` calls ``regexp(Y, X)``) on ``connection``."""
    connection.create_function("regexp", 2, _regexp, deterministic=True)


def to_lucene(pattern: str) -> tuple[str, bool]:
    """(Lucene pattern with the same unanchored meaning, whether ``(?i)`` was given inline)."""
    insensitive = False
    if pattern.startswith("(?i)"):
        insensitive, pattern = True, pattern[4:]
    if pattern.startswith("(?"):
        flags = re.match(r"\(\?([a-z]+)\)", pattern)
        if flags and set(flags.group(1)) <= {"i", "s"}:
            insensitive = insensitive or "i" in flags.group(1)
            pattern = pattern[flags.end() :]
    anchored_start = pattern.startswith("^")
    if anchored_start:
        pattern = pattern[1:]
    anchored_end = pattern.endswith("$") and not pattern.endswith("\\$")
    if anchored_end:
        pattern = pattern[:-1]
    body = _translate(pattern)
    return ("" if anchored_start else ".*") + body + ("" if anchored_end else ".*"), insensitive


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise SigmaFeatureNotSupportedByBackendError("regex ends with a backslash")
            nxt = pattern[i + 1]
            i += 2
            if nxt in _CLASS_SHORTHANDS:
                if in_class:
                    if nxt not in _CLASS_INSIDE:
                        raise SigmaFeatureNotSupportedByBackendError(
                            f"negated class \\{nxt} inside [...] has no Lucene form"
                        )
                    out.append(_CLASS_INSIDE[nxt])
                else:
                    out.append(_CLASS_SHORTHANDS[nxt])
            elif nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt.isalnum():
                raise SigmaFeatureNotSupportedByBackendError(
                    f"regex escape \\{nxt} has no Lucene form"
                )
            else:
                out.append("\\" + nxt)
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char in '"<>#@&~' or (char == "-" and pattern[i + 1 : i + 2] == "]"):
                out.append("\\")  # a trailing "-" is literal in PCRE, a range in Lucene
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("\\]")
                i += 1
            i += 1
            continue
        if char == "(" and pattern[i + 1 : i + 2] == "?":
            if pattern[i + 2 : i + 3] == ":":
                out.append("(")
                i += 3
                continue
            raise SigmaFeatureNotSupportedByBackendError(
                "regex look-arounds, named groups and inline flags inside have no Lucene form"
            )
        if char in "^$":
            raise SigmaFeatureNotSupportedByBackendError("inner regex anchors have no Lucene form")
        if char in _LUCENE_LITERALS or char in "<>#@&~":
            out.append("\\" + char)
            i += 1
            continue
        if char in "*+?}" and pattern[i + 1 : i + 2] == "?":
            # A lazy quantifier matches the same *set* of strings as the greedy one.
            out.append(char)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)
