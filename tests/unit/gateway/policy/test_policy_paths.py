"""Canonical paths and hosts: every known path-confusion trick is refused or normalised."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy.paths import (
    PathError,
    canonical_host,
    canonical_path,
    compile_host_glob,
    compile_path_glob,
    encode_path,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("//admin", "/admin"),
        ("/public/../admin", "/admin"),
        ("/admin/./x", "/admin/x"),
        ("/%61dmin", "/admin"),
        ("/%2e%2e/admin".replace("%2e%2e/", "x/%2e%2e/"), "/admin"),
        ("/a?b=1", "/a"),
        ("/caf%C3%A9", "/café"),
        ("/ADMIN", "/ADMIN"),
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert canonical_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "/admin%2fsecret",
        "/admin%2Fsecret",
        "/admin%5csecret",
        "/admin\\secret",
        "/%252e%252e/admin",
        "/..",
        "/%2e%2e/admin",
        "/a/../../admin",
        "/admin./",
        "/admin%20",
        "/admin;jsessionid=x",
        "/a%00b",
        "/a%zz",
        "/a%4",
        "/caf%C3",
        "relative",
        "/a\x07",
    ],
)
def test_refuses_ambiguous_paths(raw: str) -> None:
    with pytest.raises(PathError):
        canonical_path(raw)


@given(st.text(max_size=60))
def test_canonical_path_is_total_and_idempotent(text: str) -> None:
    try:
        once = canonical_path("/" + text)
    except PathError:
        return
    assert once.startswith("/")
    assert "//" not in once
    assert "/../" not in once + "/"
    assert canonical_path(encode_path(once)) == once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("HR.City.Test", "hr.city.test"), ("hr.city.test.", "hr.city.test"), ("a.b:8443", "a.b")],
)
def test_canonical_host(raw: str, expected: str) -> None:
    assert canonical_host(raw) == expected


@pytest.mark.parametrize("raw", ["", "a..b", "a b", "a/b", "a:b:c", "a:x", "[::1"])
def test_bad_hosts(raw: str) -> None:
    with pytest.raises(PathError):
        canonical_host(raw)


def test_path_globs() -> None:
    api = compile_path_glob("/api/**", case_sensitive=False)
    assert api.fullmatch("/api")
    assert api.fullmatch("/api/x/y")
    assert api.fullmatch("/API/x")
    assert not api.fullmatch("/apix")
    one = compile_path_glob("/u/*/profile", case_sensitive=True)
    assert one.fullmatch("/u/alice/profile")
    assert not one.fullmatch("/u/a/b/profile")
    assert not one.fullmatch("/U/alice/profile")
    with pytest.raises(ValueError, match="start with"):
        compile_path_glob("api", case_sensitive=True)


def test_host_globs() -> None:
    wild = compile_host_glob("*.city.test")
    assert wild.fullmatch("hr.city.test")
    assert not wild.fullmatch("a.hr.city.test")
    assert not wild.fullmatch("city.test")
