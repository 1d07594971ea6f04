"""The SOC's own errors (on top of :mod:`tulou.errors`) and their HTTP statuses, in one place.

tulou.errors.UsageError             400
├── ConflictError                   409  someone changed the record since you read it,
│   │                                    or the workflow does not allow the move
│   └── PreconditionFailedError     412  the If-Match header names an old version
└── PreconditionRequiredError       428  a change without If-Match or a version
tulou.errors.NotFoundError          404
tulou.errors.PolicyDeniedError      403
└── AuthenticationError             401  no or bad credentials
tulou.errors.UnavailableError       503
"""

from __future__ import annotations

from tulou.errors import (
    NotFoundError,
    PolicyDeniedError,
    TulouError,
    UnavailableError,
    UsageError,
)


class ConflictError(UsageError):
    """The record changed since the caller read it (or the move is not allowed)."""

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class PreconditionFailedError(ConflictError):
    pass


class PreconditionRequiredError(UsageError):
    pass


class AuthenticationError(PolicyDeniedError):
    pass


def http_status(error: TulouError) -> int:
    """The HTTP status of a domain error (the one translation point)."""
    from soc.workflow import TransitionError  # noqa: PLC0415 - avoid a cycle at import

    for kind, status in (
        (PreconditionFailedError, 412),
        (ConflictError, 409),
        (TransitionError, 409),
        (PreconditionRequiredError, 428),
        (UsageError, 400),
        (NotFoundError, 404),
        (AuthenticationError, 401),
        (PolicyDeniedError, 403),
        (UnavailableError, 503),
    ):
        if isinstance(error, kind):
            return status
    return 500
