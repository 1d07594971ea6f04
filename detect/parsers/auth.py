"""auth.log / secure: syslog-framed sshd, sudo and su messages mapped to ECS authentication.

Any syslog line is accepted (it keeps its syslog fields with ``event.dataset: auth``); the
messages below get the authentication and process fields rules filter on. Real logs write the
same failure in several shapes, all mapped (docs/detect.md): PAM failures with or without
``user=``, the old ``sshd(pam_unix)[pid]:`` and ``(pam_unix)`` forms, ``error: PAM:``,
rsyslog's ``message repeated N times: [ ... ]`` (the inner message is mapped, with
``log.syslog.repeated: N``), ``maximum authentication attempts exceeded`` and ``Too many
authentication failures``, Solaris' ``[ID n facility.level]`` prefix. Summary lines that
restate failures logged one by one (``PAM 5 more authentication failures``, ``check pass; user
unknown``) keep only their syslog fields, so a failure is never counted twice.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any, ClassVar

from detect.model import Source, new_event
from detect.parsers.base import LineParser
from detect.parsers.syslog import header_fields, parse_header
from detect.parsers.syslog_time import LocalClock
from tulou.events import Event

_SSH_RESULT = re.compile(
    r"(?P<result>Accepted|Failed) (?P<method>[\w/-]+) for (?P<invalid>invalid user )?"
    r"(?P<user>.*?) from (?P<ip>[0-9A-Fa-f.:]+)(?: port (?P<port>\d+))?(?: (?P<proto>ssh[12]))?"
    r"(?::\s*(?P<key>.*))?$"
)
# OpenSSH >= 7.x: "error: maximum authentication attempts exceeded for [invalid user] U from
# IP port P ssh2 [preauth]"; "Disconnecting {authenticating|invalid} user U IP port P: Too many
# authentication failures [preauth]".
_SSH_MAX_TRIES = re.compile(
    r"(?:error: )?maximum authentication attempts exceeded for (?P<invalid>invalid user )?"
    r"(?P<user>.*?) from (?P<ip>[0-9A-Fa-f.:]+)(?: port (?P<port>\d+))?"
)
_SSH_TOO_MANY = re.compile(
    r"Disconnecting (?:(?P<invalid>invalid)|authenticating) user (?P<user>\S*) "
    r"(?P<ip>[0-9A-Fa-f.:]+) port (?P<port>\d+): Too many authentication failures"
    r"|Disconnecting: Too many authentication failures for (?P<old_user>\S+)"
)
_SSH_NOT_ALLOWED = re.compile(
    r"User (?P<user>\S+) (?:from (?P<host>\S+) )?not allowed because (?P<why>.*)$"
)
_SSH_PAM_ERROR = re.compile(
    r"error: PAM: (?:[Aa]uthentication (?:failure|error)|User not known to the underlying "
    r"authentication module) for (?P<invalid>illegal user )?(?P<user>\S+) from (?P<host>\S+)"
)
_SSH_ROOT_REFUSED = re.compile(r"ROOT LOGIN REFUSED FROM (?P<host>[^\s]+)(?: port (?P<port>\d+))?")
#: rsyslog's RepeatedMsgReduction: the previous message, N more times.
_REPEATED = re.compile(r"message repeated (?P<count>\d+) times: \[ ?(?P<inner>.*)\]$")
#: Solaris and illumos syslog put a message id and facility.level before the text.
_SOLARIS_ID = re.compile(r"\[ID \d+ [\w.]+\] ")
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
# "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=R
# [ user=U]": user= is absent when the name given is unknown (22% of a real brute force). Any PAM
# module (pam_unix, pam_sss, pam_ldap...). The old form puts the module first:
# "(pam_unix) authentication failure; ..." or the program tag "sshd(pam_unix)".
_PAM_FAILURE = re.compile(
    r"(?:pam_\w+\((?:(?P<service>[^:)]+):)?auth\): |\(pam_\w+\) )?authentication failure; "
    r"(?P<pairs>.*)$"
)
_PAM_PAIR = re.compile(r"(?P<key>\w+)=(?P<value>\S*)")
_SESSION = re.compile(
    r"(?:pam_unix\((?P<service>[^:)]+):session\): |\(pam_unix\) )?session (?P<what>opened|closed) "
    r"for user (?P<user>[^\s(]+)(?:\(uid=\d+\))?(?: by (?P<by>[^\s(]*))?"
)
#: The program tag of the old PAM form: "sshd(pam_unix)".
_PAM_TAG = re.compile(r"(?P<program>[^()]+)\(pam_\w+\)")


@lru_cache(maxsize=4096)  # attackers repeat their addresses; callers copy the result (**)
def _address(host: str | None) -> dict[str, Any]:
    """``source.ip`` for an address, ``source.domain`` for a name; ``source.address`` always."""
    if not host:
        return {}
    try:
        return {"source.address": host, "source.ip": str(ipaddress.ip_address(host))}
    except ValueError:
        return {"source.address": host, "source.domain": host}


def _failure(action: str, user: str | None, **more: Any) -> dict[str, Any]:
    return {
        "event.category": ["authentication"],
        "event.type": ["info"],
        "event.action": action,
        "event.outcome": "failure",
        "user.name": user or None,
        **more,
    }


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
            "source.port": int(port) if port else None,
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
    return _ssh_failure(message)


def _ssh_failure(message: str) -> dict[str, Any] | None:
    """The rarer sshd failure shapes (tried after the common ones)."""
    first = message[:1]
    if first in "me":
        found = _SSH_MAX_TRIES.match(message)
        if found is not None:
            return _failure(
                "ssh_max_auth_tries_exceeded",
                found["user"],
                **{
                    "source.ip": found["ip"],
                    "source.port": int(found["port"]) if found["port"] else None,
                    "network.protocol": "ssh",
                    "auth.ssh.invalid_user": True if found["invalid"] else None,
                },
            )
        found = _SSH_PAM_ERROR.match(message)
        if found is not None:
            return _failure(
                "ssh_login",
                found["user"],
                **_address(found["host"]),
                **{"network.protocol": "ssh", "auth.ssh.method": "pam"},
            )
    elif first == "D":
        found = _SSH_TOO_MANY.match(message)
        if found is not None:
            return _failure(
                "ssh_max_auth_tries_exceeded",
                found["user"] or found["old_user"],
                **{
                    "source.ip": found["ip"],
                    "source.port": int(found["port"]) if found["port"] else None,
                    "network.protocol": "ssh",
                    "auth.ssh.invalid_user": True if found["invalid"] else None,
                },
            )
    elif first == "U":
        found = _SSH_NOT_ALLOWED.match(message)
        if found is not None:
            return _failure(
                "ssh_user_not_allowed",
                found["user"],
                **_address(found["host"]),
                **{"network.protocol": "ssh", "event.reason": found["why"]},
            )
    elif first == "R":
        found = _SSH_ROOT_REFUSED.match(message)
        if found is not None:
            host = found["host"]
            return _failure(
                "ssh_root_login_refused",
                "root",
                **_address(host[7:] if host.startswith("::ffff:") and "." in host else host),
                **{
                    "source.port": int(found["port"]) if found["port"] else None,
                    "network.protocol": "ssh",
                },
            )
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


def _pam(message: str, program: str) -> dict[str, Any] | None:
    """PAM failures and sessions; ``program`` names the service when the message does not."""
    found = _PAM_FAILURE.match(message) if "authentication failure; " in message else None
    if found is not None:
        pairs: dict[str, str] = {}
        for pair in _PAM_PAIR.finditer(found["pairs"]):
            pairs.setdefault(pair["key"], pair["value"])  # the first rhost= when repeated
        service = found["service"] or program or "pam"
        return _failure(
            f"{service}_auth_failure",
            pairs.get("user"),
            **_address(pairs.get("rhost")),
            **{"user.effective.name": pairs.get("ruser") or None},
        )
    found = _SESSION.match(message) if "session " in message else None
    if found is not None:
        service = found["service"] or program or "pam"
        return {
            "event.category": ["session"],
            "event.type": ["start" if found["what"] == "opened" else "end"],
            "event.action": f"{service}_session_{found['what']}",
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

    def __init__(self, year: int | None = None, clock: LocalClock | None = None) -> None:
        """``clock`` reads RFC 3164 times (default: the city's zone, the year inferred);
        ``year`` is a shorthand for a clock in the default zone with that year."""
        self.clock = clock if clock is not None else LocalClock(year=year)

    def sniff(self, head: bytes) -> int:
        score = super().sniff(head)
        if score and any(
            f" {p}[".encode() in head or f" {p}:".encode() in head for p in self._programs
        ):
            return min(100, score + 10)
        return 0

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        header = parse_header(line, self.clock)
        fields = header_fields(header)
        fields["event.kind"] = "event"
        program = (header.program or "").lower()
        if program.endswith(")") and (tag := _PAM_TAG.fullmatch(program)) is not None:
            program = tag["program"]  # the old "sshd(pam_unix)[pid]:" form
            fields["process.name"] = header.program[: len(program)] if header.program else None
        message = header.message
        if message[:1] == "[" and (prefix := _SOLARIS_ID.match(message)) is not None:
            message = message[prefix.end() :]
        elif message[:8] == "message " and (again := _REPEATED.match(message)) is not None:
            message = again["inner"]
            fields["log.syslog.repeated"] = int(again["count"])
        specific = None
        if program.startswith("sshd"):
            specific = _ssh(message)
        elif program == "sudo":
            specific = _sudo(message)
        if specific is None:
            specific = _pam(message, program)
        if specific is not None:
            fields.update(specific)
            if fields.get("user.name") and "related.user" not in fields:
                fields["related.user"] = [fields["user.name"]]
            if fields.get("source.ip"):
                fields["related.ip"] = [fields["source.ip"]]
        return new_event(self.id, source, position, header.timestamp, line, fields)
