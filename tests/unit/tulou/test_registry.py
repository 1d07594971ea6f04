"""The one registry type and the one URL grammar (tulou/registry.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tulou.errors import ConfigError
from tulou.registry import Registry, split_url


def test_registry_refuses_duplicates_bad_ids_and_names_what_it_knows() -> None:
    registry = Registry("widget", [("a", 1), ("b+c", 2)])
    assert registry.get("b+c") == 2 and "a" in registry and registry.keys() == ["a", "b+c"]
    with pytest.raises(ConfigError, match="registered twice"):
        registry.register("a", 3)
    with pytest.raises(ConfigError, match="lowercase"):
        registry.register("Bad Id", 3)
    with pytest.raises(ConfigError, match=r"unknown widget 'z' \(known: a, b\+c\)"):
        registry.get("z")


@pytest.mark.parametrize(
    ("url", "scheme", "location"),
    [
        ("sqlite:///var/tulou/events.db", "sqlite", "/var/tulou/events.db"),
        ("sqlite://events.db", "sqlite", "events.db"),
        ("sqlite:events.db", "sqlite", "events.db"),
        ("SQLITE:events.db", "sqlite", "events.db"),
        ("memory:", "memory", ""),
        ("memory://", "memory", ""),
        ("local:/srv/backup", "local", "/srv/backup"),
        ("/srv/backup", "local", "/srv/backup"),  # a bare path takes the default scheme
        ("C:/backup", "local", "C:/backup"),  # a drive letter is not a scheme
    ],
)
def test_path_like_urls_parse_one_way(url: str, scheme: str, location: str) -> None:
    parsed = split_url(url, default="local")
    assert (parsed.scheme, parsed.location, parsed.network) == (scheme, location, False)


def test_network_urls() -> None:
    es = split_url("https://es.city.example:9243/tulou-events?retry=5")
    assert (es.host, es.port, es.path, dict(es.query)) == (
        "es.city.example",
        9243,
        "/tulou-events",
        {"retry": ["5"]},
    )
    assert split_url("sftp://backup@site-b.city.example/srv/repo").host == "site-b.city.example"


@pytest.mark.parametrize(
    "url",
    ["https://elastic:changeme@es:9200", "s3://AKIA:secret@bucket/x", "sqlite://u:p@x/db"],
)
def test_credentials_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        split_url(url)
    assert "changeme" not in str(caught.value) and "secret" not in str(caught.value)


def test_a_bare_path_without_a_default_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a URL"):
        split_url("events.db")


@given(st.from_regex(r"[a-z0-9_./-]{1,30}", fullmatch=True))
def test_both_spellings_of_a_sqlite_path_agree(path: str) -> None:
    if path.startswith("/"):
        return  # sqlite:/abs and sqlite:///abs differ in how many slashes they keep
    assert split_url(f"sqlite:{path}").location == split_url(f"sqlite://{path}").location == path
