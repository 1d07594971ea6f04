"""The exception tree shared by every component, and the exit code each maps to.

    TulouError                      exit 1   anything we raise on purpose
    ├── UsageError                  exit 2   the command line or a request is malformed
    ├── ConfigError                 exit 3   settings, policy or config are invalid
    ├── InputError                  exit 4   an input file or record cannot be read or parsed
    ├── VerificationError           exit 5   a signature, MAC, hash, tag or chain does not verify
    │   └── ReplayError             exit 5   a message id was seen before or is too old
    ├── NotFoundError               exit 6   a named key, snapshot, alert, ... does not exist
    ├── UnavailableError            exit 7   a dependency (store, node, site) cannot be reached
    └── PolicyDeniedError           exit 8   an access decision denied the operation

Errors are translated once per edge: to exit codes in ``tulou.cli``, to HTTP statuses in
``soc``, to ``OptionsError`` in the gateway addons. Messages must never contain secrets.
"""

from __future__ import annotations


class TulouError(Exception):
    """Base class for every error Tulou raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, location: str | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class UsageError(TulouError):
    exit_code = 2


class ConfigError(TulouError):
    exit_code = 3


class InputError(TulouError):
    exit_code = 4


class VerificationError(TulouError):
    exit_code = 5


class ReplayError(VerificationError):
    pass


class NotFoundError(TulouError):
    exit_code = 6


class UnavailableError(TulouError):
    exit_code = 7


class PolicyDeniedError(TulouError):
    exit_code = 8


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected error (a bug: run again with --debug and report it)",
    2: "usage error: a wrong option, argument or request",
    3: "configuration error: settings, policy or config file invalid",
    4: "input error: a file or record could not be read or parsed",
    5: "verification failed: bad signature, MAC, tag, hash or chain; or a replay",
    6: "not found: the named key, snapshot, alert or object does not exist",
    7: "unavailable: a store, node or site could not be reached",
    8: "denied by policy",
    130: "interrupted (Ctrl-C)",
}
