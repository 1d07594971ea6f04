"""The alert triage workflow: statuses, the transitions allowed between them, closing reasons.

    new ──> acknowledged ──> investigating ──> resolved (with a closing reason)
     │            │                               │
     └────────────┴──> resolved (a reason)        └──> investigating (reopen)

Resolving needs a closing reason; no other transition takes one. Anything else is refused
with :class:`tulou.errors.UsageError` naming the allowed moves (HTTP 409 at the API edge).
"""

from __future__ import annotations

from typing import Literal, get_args

from soc.i18n import _
from tulou.errors import UsageError

type Status = Literal["new", "acknowledged", "investigating", "resolved"]
type ClosingReason = Literal["true_positive", "benign_true_positive", "false_positive", "duplicate"]

STATUSES: tuple[Status, ...] = get_args(Status.__value__)
CLOSING_REASONS: tuple[ClosingReason, ...] = get_args(ClosingReason.__value__)

#: status -> the statuses it may move to. Anything not listed is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged", "resolved"}),
    "acknowledged": frozenset({"investigating", "resolved"}),
    "investigating": frozenset({"resolved"}),
    "resolved": frozenset({"investigating"}),
}

#: The status shown as "closed" in the UI.
CLOSED: Status = "resolved"


class TransitionError(UsageError):
    """The requested move is not allowed from the alert's current status."""


def check_transition(current: str, target: str, reason: str | None) -> None:
    """Raise :class:`TransitionError` unless ``current -> target`` (with ``reason``) is allowed."""
    if target not in TRANSITIONS:
        raise UsageError(
            _("unknown status {value!r}; statuses: {names}").format(
                value=target, names=", ".join(STATUSES)
            )
        )
    allowed = TRANSITIONS.get(current, frozenset())
    if target not in allowed:
        moves = ", ".join(sorted(allowed)) or _("none")
        raise TransitionError(
            _("cannot move an alert from {current} to {target} (allowed: {moves})").format(
                current=current, target=target, moves=moves
            )
        )
    if target == CLOSED:
        if reason is None:
            raise TransitionError(_("resolving an alert needs a closing reason"))
        if reason not in CLOSING_REASONS:
            raise UsageError(
                _("unknown closing reason {value!r}; reasons: {names}").format(
                    value=reason, names=", ".join(CLOSING_REASONS)
                )
            )
    elif reason is not None:
        raise UsageError(_("only resolving takes a closing reason"))
