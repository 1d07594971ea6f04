"""The one route matcher: ``*`` is one DNS label, prefixes end on a segment boundary, the most
specific route wins (tulou/contracts/routes.py). Properties are checked with Hypothesis on
generated hosts and paths; the examples are the three answers the issue found disagreeing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tulou.contracts.routes import (
    RouteSpec,
    RouteTable,
    host_labels,
    host_matches,
    prefix_matches,
)
from tulou.errors import ConfigError

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
segment = st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True)


def test_wildcard_is_exactly_one_label() -> None:
    assert host_matches("*.city.test", "hr.city.test")
    assert not host_matches("*.city.test", "a.b.city.test")  # compliance used endswith
    assert not host_matches("*.city.test", "city.test")
    assert host_matches("api.*.city.test", "api.hr.city.test")
    assert not host_matches("api.*.city.test", "web.hr.city.test")


def test_prefix_on_segment_boundary() -> None:
    assert prefix_matches("/api", "/api")
    assert prefix_matches("/api", "/api/x")
    assert prefix_matches("/api/", "/api")
    assert not prefix_matches("/api", "/apix")  # policy explain used a bare startswith
    assert prefix_matches("/", "/anything/at/all")


@given(st.lists(label, min_size=1, max_size=4), label, st.lists(label, min_size=1, max_size=3))
def test_one_label_property(domain: list[str], first: str, extra: list[str]) -> None:
    pattern = "*." + ".".join(domain)
    assert host_matches(pattern, f"{first}.{'.'.join(domain)}")
    assert host_matches(pattern, f"{first.upper()}.{'.'.join(domain)}.")  # case, trailing dot
    assert not host_matches(pattern, ".".join([*extra, first, *domain]))
    assert not host_matches(pattern, ".".join(domain))


@given(st.lists(segment, min_size=1, max_size=4), segment, st.lists(segment, max_size=3))
def test_prefix_property(base: list[str], tail: str, rest: list[str]) -> None:
    prefix = "/" + "/".join(base)
    assert prefix_matches(prefix, prefix + "/" + "/".join([tail, *rest]))
    assert not prefix_matches(prefix, prefix + tail)  # glued onto the last segment
    assert prefix_matches(prefix + "/", prefix)


@pytest.mark.parametrize("bad", ["h*.city.test", "*x.city", "city..test", "", "a b.test"])
def test_malformed_host_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        host_labels(bad)
    with pytest.raises(ConfigError):
        RouteTable([RouteSpec("r", bad)])


def test_prefix_must_be_absolute() -> None:
    with pytest.raises(ConfigError):
        RouteTable([RouteSpec("r", "a.test", "api")])


def test_most_specific_route_wins_whatever_the_order() -> None:
    routes = [
        RouteSpec("any", "*.city.test"),
        RouteSpec("hr", "hr.city.test"),
        RouteSpec("hr-api", "hr.city.test", "/api"),
        RouteSpec("all-api", "*.city.test", "/api/"),
    ]
    for ordering in (routes, routes[::-1]):
        table = RouteTable(ordering)
        assert table.match("hr.city.test", "/api/x") == RouteSpec("hr-api", "hr.city.test", "/api")
        assert table.match("tax.city.test", "/api/x").id == "all-api"  # type: ignore[union-attr]
        assert table.match("hr.city.test", "/apix").id == "hr"  # type: ignore[union-attr]
        assert table.match("tax.city.test", "/").id == "any"  # type: ignore[union-attr]
        assert table.match("a.b.city.test", "/") is None
        assert table.match("city.test", "/") is None
    assert [r.id for r in RouteTable(routes).serving("hr.city.test")] == [
        "hr-api",
        "all-api",
        "hr",
        "any",
    ]


def test_equal_specificity_keeps_config_order() -> None:
    table = RouteTable([RouteSpec("first", "a.test"), RouteSpec("second", "a.test")])
    assert table.match("a.test", "/").id == "first"  # type: ignore[union-attr]


@given(st.lists(label, min_size=2, max_size=4), st.lists(segment, max_size=3))
def test_table_agrees_with_the_predicates(host: list[str], path: list[str]) -> None:
    """A match is always a route whose host and prefix both match; no match means none does."""
    name, full = ".".join(host), "/" + "/".join(path)
    routes = [
        RouteSpec("exact", name, "/" + path[0] if path else "/"),
        RouteSpec("wild", "*." + ".".join(host[1:])),
        RouteSpec("other", "other.invalid"),
    ]
    found = RouteTable(routes).match(name, full)
    matching = [r for r in routes if host_matches(r.host, name) and prefix_matches(r.prefix, full)]
    assert (found is None) == (not matching)
    if found is not None:
        assert found in matching
        assert len(found.prefix.rstrip("/")) == max(len(r.prefix.rstrip("/")) for r in matching)
