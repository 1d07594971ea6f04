"""The workflow table: every (from, to, reason) combination against the documented rules."""

from __future__ import annotations

import itertools

import pytest

from soc.workflow import CLOSING_REASONS, STATUSES, TRANSITIONS, check_transition
from tulou import i18n
from tulou.errors import UsageError

ALLOWED = {
    ("new", "acknowledged"),
    ("new", "resolved"),
    ("acknowledged", "investigating"),
    ("acknowledged", "resolved"),
    ("investigating", "resolved"),
    ("resolved", "investigating"),
}


def test_the_table_is_the_documented_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert STATUSES == ("new", "acknowledged", "investigating", "resolved")
    assert CLOSING_REASONS == (
        "true_positive",
        "benign_true_positive",
        "false_positive",
        "duplicate",
    )


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
@pytest.mark.parametrize("reason", [None, *CLOSING_REASONS, "bogus"])
def test_every_combination(current, target, reason):
    ok = (current, target) in ALLOWED and (
        (target == "resolved" and reason in CLOSING_REASONS)
        or (target != "resolved" and reason is None)
    )
    if ok:
        check_transition(current, target, reason)
    else:
        with pytest.raises(UsageError):
            check_transition(current, target, reason)


def test_unknown_status():
    with pytest.raises(UsageError, match="未知状态 'closed'"):
        check_transition("new", "closed", None)
    with i18n.using("en"), pytest.raises(UsageError, match="unknown status 'closed'"):
        check_transition("new", "closed", None)
