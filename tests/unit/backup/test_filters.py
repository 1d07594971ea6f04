"""Exclude rules: patterns (anchored, anywhere, ``**``, negation), exclude files, sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup.filters import Filters, parse_size, read_exclude_file
from tulou.errors import UsageError


@pytest.mark.parametrize(
    ("pattern", "path", "excluded"),
    [
        ("*.tmp", "/srv/app/a.tmp", True),
        ("*.tmp", "/srv/app/a.tmp.keep", False),
        ("*.tmp", "/srv/a.tmp/inner", False),  # the directory itself matches, not its children
        ("cache", "/srv/app/cache", True),
        ("cache", "/srv/app/cached", False),
        ("/srv/app/cache", "/srv/app/cache", True),
        ("/srv/app/cache", "/other/srv/app/cache", False),  # anchored
        ("app/*.log", "/srv/app/x.log", True),
        ("app/*.log", "/srv/app/sub/x.log", False),  # * never crosses a /
        ("app/**/*.log", "/srv/app/sub/deep/x.log", True),
        ("app/**/*.log", "/srv/app/x.log", True),  # ** matches zero components
        ("/srv/**", "/srv/anything/at/all", True),
        ("[ab]?.txt", "/x/b1.txt", True),
        ("logs/", "/var/logs", True),  # a trailing / is ignored
    ],
)
def test_one_pattern(pattern: str, path: str, excluded: bool) -> None:
    assert Filters((pattern,)).excluded(path) is excluded


def test_negation_reincludes_and_the_last_match_wins() -> None:
    rules = Filters(("*.log", "!important.log", "/srv/important.log"))
    assert rules.excluded("/var/debug.log")
    assert not rules.excluded("/var/important.log")
    assert rules.excluded("/srv/important.log")


@given(st.lists(st.text("ab/*!", min_size=1, max_size=6), max_size=4), st.text("ab/", max_size=12))
def test_patterns_never_crash_and_negations_alone_exclude_nothing(
    patterns: list[str], path: str
) -> None:
    usable = [p for p in patterns if p.strip("!/")]
    rules = Filters(tuple(usable))
    rules.excluded("/" + path)
    assert not Filters(tuple("!" + p.lstrip("!") for p in usable)).excluded("/" + path)


def test_exclude_file(tmp_path: Path) -> None:
    listing = tmp_path / "exclude"
    listing.write_text("# build output\n\n  *.o  \n/srv/tmp\n!keep.o\n")
    assert read_exclude_file(listing) == ["*.o", "/srv/tmp", "!keep.o"]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500", 500),
        ("64k", 64 << 10),
        ("10M", 10 << 20),
        ("2G", 2 << 30),
        ("1T", 1 << 40),
        ("3MiB", 3 << 20),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "-1", "5X", "1.5G"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


def test_empty_patterns_are_refused() -> None:
    with pytest.raises(UsageError):
        Filters(("!",))


def test_merged_rules_keep_both_and_the_smaller_limit() -> None:
    merged = Filters(("*.tmp",), larger_than=10).merged(Filters(("!a.tmp",), True, 5))
    assert merged == Filters(("*.tmp", "!a.tmp"), True, 5)
    assert not merged.excluded("/x/a.tmp") and merged.too_large(6)
