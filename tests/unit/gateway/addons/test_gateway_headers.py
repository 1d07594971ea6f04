"""The one-pass header edits give the same fields as mitmproxy's own Headers methods."""

from __future__ import annotations

import pytest
from mitmproxy.http import Headers

from gateway.addons._headers import lower_names, rewrite, set_header

CASES = [
    [],
    [(b"Host", b"a.test")],
    [(b"host", b"a.test"), (b"X-Id", b"1"), (b"x-id", b"2"), (b"Accept", b"*/*")],
    [(b"X-ID", b"old"), (b"Accept", b"*/*")],
    [(b"x-\xff", b"\xfe"), (b"Authorization", b"Bearer t"), (b"AUTHORIZATION", b"x")],
]


@pytest.mark.parametrize("fields", CASES)
@pytest.mark.parametrize(("name", "value"), [("X-Id", "new"), ("x-id", "\u00e9"), ("Host", "b")])
def test_set_header_matches_mitmproxy(
    fields: list[tuple[bytes, bytes]], name: str, value: str
) -> None:
    ours, theirs = Headers(fields), Headers(fields)
    set_header(ours, name, value)
    theirs[name] = value
    assert ours.fields == theirs.fields


@pytest.mark.parametrize("fields", [*CASES, [(b"X-Forwarded-For", b"evil"), (b"Host", b"a")]])
@pytest.mark.parametrize("drop", [(), ("x-id",), ("X-ID", "authorization", "Nope")])
def test_rewrite_matches_pop_then_set(fields: list[tuple[bytes, bytes]], drop: tuple[str]) -> None:
    add = [("X-Forwarded-For", "192.0.2.1"), ("X-Forwarded-Host", "hr.city.test")]
    # As the sanitizer does it: the names it adds are always among those it drops.
    names = (*drop, *(name for name, _ in add))
    ours, theirs = Headers(fields), Headers(fields)
    rewrite(ours, lower_names(names), add)
    for name in names:
        theirs.pop(name, None)
    for name, value in add:
        theirs[name] = value
    assert ours.fields == theirs.fields
