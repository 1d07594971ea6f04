"""auth.log / secure: syslog-framed sshd, sudo and su messages mapped to ECS authentication.

Any syslog line is accepted (it keeps its syslog fields with ``event.dataset: auth``); the
messages below get the authentication and process fields rules filter on.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from detect.model import Source, new_event
from detect.parsers.base import LineParser
from detect.parsers.syslog import header_fields, parse_header
from tulou.events import Event

_SSH_RESULT = re.compile(
    r"(?P<result>Accepted|Failed) (?P<method>[\w-]+) for (?P<invalid>invalid user )?"
    r"(?P<user>.*?) from (?P<ip>[0-9A-Fa-f.:]+) port (?P<port>\d+)(?: (?P<proto>ssh2))?"
    r"(?::\s*(?P<key>.*))?$"
)
_SSH_INVALID = re.compile(
    r"[Ii]nvalid user (?P<user>.*?) from (?P<ip>[0-9A-Fa-f.:]+)(?: port (?P<port>\d+))?"
)
_SSH_DISCONNECT = re.compile(
    r"Disconnected from (?:(?:invalid |authenticating )?user (?P<user>\S+) )?"
    r"(?P<ip>[0-9A-Fa-f.:]+) port (?P<port>\d+)"
)
_SUDO = re.compile(
    r"\s*(?P<user>\S+) : (?:(?P<failure>.*?) ; )?TTY=(?P<tty>\S+) ; PWD=(?P<pwd>.*?) ; "
    r"USER=(?P<target>\S+) ;(?: GROUP=\S+ ;)?(?: ENV=.*? ;)? COMMAND=(?P<command>.*)$"
)
# _SUDO without the failure group, tried first on a message with one "TTY=": when it matches,
# that "TTY=" follows "user : " directly, so _SUDO's failure group (text, " ; ", then a
# "TTY=") has no "TTY=" to end before, and _SUDO gives the same groups. It saves the lazy
# group's scans of the whole message (3 -> 1 µs a line); a failure line takes _SUDO.
_SUDO_PLAIN = re.compile(
    r"\s*(?P<user>\S+) : TTY=(?P<tty>\S+) ; PWD=(?P<pwd>.*?) ; "
    r"USER=(?P<target>\S+) ;(?: GROUP=\S+ ;)?(?: ENV=.*? ;)? COMMAND=(?P<command>.*)$"
)
_PAM_FAILURE = re.compile(
    r"pam_unix\((?P<service>[^:)]+):auth\): authentication failure;.*?"
    r"(?:rhost=(?P<rhost>\S*))?\s+user=(?P<user>\S+)"
)
_SESSION = re.compile(
    r"pam_unix\((?P<service>[^:)]+):session\): session (?P<what>opened|closed) for user "
    r"(?P<user>[^\s(]+)(?:\(uid=\d+\))?(?: by (?P<by>[^\s(]*))?"
)


def _ssh(message: str) -> dict[str, Any] | None:
    found = _SSH_RESULT.match(message)
    if found is not None:
        result, method, invalid, user, ip, port, _, key = found.groups()  # one call, not eight
        success = result == "Accepted"
        return {
            "event.category": ["authentication"],
            "event.type": ["start"] if success else ["info"],
            "event.action": "ssh_login",
            "event.outcome": "success" if success else "failure",
            "user.name": user,
            "source.ip": ip,
            "source.port": int(port),
            "network.protocol": "ssh",
            "auth.ssh.method": method,
            "auth.ssh.signature": key,
            "auth.ssh.invalid_user": True if invalid else None,
        }
    found = _SSH_INVALID.match(message)
    if found is not None:
        return {
            "event.category": ["authentication"],
            "event.type": ["info"],
            "event.action": "ssh_invalid_user",
            "event.outcome": "failure",
            "user.name": found["user"],
            "source.ip": found["ip"],
            "source.port": int(found["port"]) if found["port"] else None,
            "network.protocol": "ssh",
        }
    found = _SSH_DISCONNECT.match(message)
    if found is not None:
        return {
            "event.category": ["session"],
            "event.type": ["end"],
            "event.action": "ssh_disconnect",
            "user.name": found["user"],
            "source.ip": found["ip"],
            "source.port": int(found["port"]),
            "network.protocol": "ssh",
        }
    return None


def _sudo(message: str) -> dict[str, Any] | None:
    plain = _SUDO_PLAIN.match(message) if message.count("TTY=") == 1 else None
    if plain is not None:
        user, tty, pwd, target, command = plain.groups()
        failure = None
    else:
        found = _SUDO.match(message)
        if found is None:
            return None
        user, failure, tty, pwd, target, command = found.groups()
    return {
        "event.category": ["process"] if failure is None else ["authentication"],
        "event.type": ["start"] if failure is None else ["info"],
        "event.action": "sudo_command" if failure is None else "sudo_auth_failure",
        "event.outcome": "success" if failure is None else "failure",
        "user.name": user,
        "user.effective.name": target,
        "process.command_line": command,
        "process.executable": command.split(" ", 1)[0],
        "process.working_directory": pwd,
        "process.tty.name": tty,
        "error.message": failure,
    }


def _pam(message: str) -> dict[str, Any] | None:
    found = _PAM_FAILURE.match(message)
    if found is not None:
        return {
            "event.category": ["authentication"],
            "event.type": ["info"],
            "event.action": f"{found['service']}_auth_failure",
            "event.outcome": "failure",
            "user.name": found["user"],
            "source.address": found["rhost"] or None,
        }
    found = _SESSION.match(message)
    if found is not None:
        return {
            "event.category": ["session"],
            "event.type": ["start" if found["what"] == "opened" else "end"],
            "event.action": f"{found['service']}_session_{found['what']}",
            "user.name": found["user"],
            "user.effective.name": found["user"],
            "related.user": [u for u in (found["by"], found["user"]) if u] or None,
        }
    return None


class AuthLogParser(LineParser):
    """sshd logins (accepted, failed, invalid users), sudo commands and failures, PAM, su."""

    id: ClassVar[str] = "auth"
    description: ClassVar[str] = "auth.log / secure: sshd, sudo, su, PAM (syslog-framed)"
    _programs: ClassVar[frozenset[str]] = frozenset({"sshd", "sudo", "su", "login", "passwd"})

    def __init__(self, year: int | None = None) -> None:
        self.year = year

    def sniff(self, head: bytes) -> int:
        score = super().sniff(head)
        if score and any(
            f" {p}[".encode() in head or f" {p}:".encode() in head for p in self._programs
        ):
            return min(100, score + 10)
        return 0

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        header = parse_header(line, self.year)
        fields = header_fields(header)
        fields["event.kind"] = "event"
        specific = None
        program = (header.program or "").lower()
        if program.startswith("sshd"):
            specific = _ssh(header.message)
        elif program == "sudo":
            specific = _sudo(header.message)
        if specific is None:
            specific = _pam(header.message)
        if specific is not None:
            fields.update(specific)
            if fields.get("user.name") and "related.user" not in fields:
                fields["related.user"] = [fields["user.name"]]
            if fields.get("source.ip"):
                fields["related.ip"] = [fields["source.ip"]]
        return new_event(self.id, source, position, header.timestamp, line, fields)
