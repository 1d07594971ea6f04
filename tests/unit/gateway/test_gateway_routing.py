"""The gateway's routing over the contract matcher: canonical prefixes, the policy's case rule."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import canonical_path
from gateway.routing import CanonicalRoutes, canonical_prefix


@dataclass(frozen=True)
class R:
    id: str
    host: str
    prefix: str


TABLE = CanonicalRoutes(
    [
        R("root", "hr.city.test", "/"),
        R("api", "hr.city.test", "/api"),
        R("inbound", "hr.city.test", "/Inbound/./x/"),
        R("wild", "*.apps.test", "/"),
    ]
)


@pytest.mark.parametrize(
    ("host", "path", "case_sensitive", "expected"),
    [
        ("hr.city.test", "/", False, "root"),
        ("hr.city.test", "/api", False, "api"),
        ("hr.city.test", "/api/x", False, "api"),
        ("hr.city.test", "/apix", False, "root"),
        ("hr.city.test", "/API/x", False, "api"),
        ("hr.city.test", "/API/x", True, "root"),
        ("hr.city.test", "/inbound/x", False, "inbound"),
        ("hr.city.test", "/INBOUND/X/y", False, "inbound"),
        ("hr.city.test", "/Inbound/x", True, "inbound"),
        ("hr.city.test", "/inbound/x", True, "root"),
        ("a.apps.test", "/q", False, "wild"),
        ("b.a.apps.test", "/q", False, None),
        ("other.test", "/", False, None),
    ],
)
def test_match(host: str, path: str, case_sensitive: bool, expected: str | None) -> None:
    route = TABLE.match(host, path, case_sensitive=case_sensitive)
    assert (route.id if route else None) == expected


def test_prefixes_are_canonical() -> None:
    assert canonical_prefix("/a/./b//c/") == "/a/b/c"
    assert canonical_prefix("/%61pi") == "/api"
    assert canonical_prefix("/") == "/"


SEGMENT = st.text(alphabet="abcAB", min_size=1, max_size=3)


@given(st.lists(SEGMENT, min_size=1, max_size=4), st.lists(SEGMENT, max_size=3))
def test_a_path_under_a_prefix_in_any_case_routes_there(prefix: list[str], rest: list[str]) -> None:
    table = CanonicalRoutes([R("root", "h.test", "/"), R("p", "h.test", "/" + "/".join(prefix))])
    path = canonical_path(("/" + "/".join(prefix + rest)).swapcase())
    route = table.match("h.test", path)
    assert route is not None and route.id == "p"
