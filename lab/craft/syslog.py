"""auth.log lines as OpenSSH, sudo, PAM and cron write them, framed as RFC 3164 syslog.

The header is ``Mmm dd HH:MM:SS host program[pid]: message`` with the day space-padded, as
rsyslog's default ``RSYSLOG_TraditionalFileFormat`` writes it. RFC 3164 carries no zone: the
stamp is the city's local time (Asia/Shanghai), as the range's hosts write it and as detect's
syslog parser reads it by default (docs/detect.md).
Message texts follow OpenSSH 9 (``auth2.c``/``auth.c`` ``auth_log``), sudo 1.9 and Linux-PAM's
``pam_unix``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

#: The city's zone: the range's hosts log local time.
ZONE = ZoneInfo("Asia/Shanghai")
#: Fingerprint shape of an OpenSSH public key, for ``Accepted publickey`` lines.
_KEY = "ED25519 SHA256:{fingerprint}"


def stamp(moment: datetime) -> str:
    """The RFC 3164 timestamp of ``moment`` in the city's zone: ``Mar  1 16:00:00``."""
    local = moment.astimezone(ZONE)
    return f"{local:%b} {local.day:>2} {local:%H:%M:%S}"


def line(moment: datetime, host: str, program: str, pid: int | None, message: str) -> str:
    """One syslog file line."""
    tag = program if pid is None else f"{program}[{pid}]"
    return f"{stamp(moment)} {host} {tag}: {message}"


def ssh_failed_password(  # noqa: PLR0917 - reads like the log line
    moment: datetime, host: str, pid: int, user: str, ip: str, port: int, *, invalid: bool = False
) -> str:
    """``Failed password for [invalid user ]USER from IP port PORT ssh2``."""
    who = f"invalid user {user}" if invalid else user
    return line(moment, host, "sshd", pid, f"Failed password for {who} from {ip} port {port} ssh2")


def ssh_invalid_user(  # noqa: PLR0917 - reads like the log line
    moment: datetime, host: str, pid: int, user: str, ip: str, port: int
) -> str:
    """``Invalid user USER from IP port PORT`` (sshd logs it before any password is tried)."""
    return line(moment, host, "sshd", pid, f"Invalid user {user} from {ip} port {port}")


def ssh_pam_failure(moment: datetime, host: str, pid: int, user: str, ip: str) -> str:
    """pam_unix's line for a wrong password on a known account (logged before sshd's own)."""
    return line(
        moment,
        host,
        "sshd",
        pid,
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
        f"ruser= rhost={ip}  user={user}",
    )


def ssh_accepted(  # noqa: PLR0917 - reads like the log line
    moment: datetime,
    host: str,
    pid: int,
    user: str,
    ip: str,
    port: int,
    *,
    method: str = "password",
    fingerprint: str | None = None,
) -> str:
    """``Accepted password|publickey for USER from IP port PORT ssh2[: KEY]``."""
    suffix = f": {_KEY.format(fingerprint=fingerprint)}" if fingerprint else ""
    return line(
        moment,
        host,
        "sshd",
        pid,
        f"Accepted {method} for {user} from {ip} port {port} ssh2{suffix}",
    )


def ssh_session_opened(moment: datetime, host: str, pid: int, user: str, uid: int) -> str:
    return line(
        moment,
        host,
        "sshd",
        pid,
        f"pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)",
    )


def ssh_session_closed(moment: datetime, host: str, pid: int, user: str) -> str:
    return line(
        moment, host, "sshd", pid, f"pam_unix(sshd:session): session closed for user {user}"
    )


def ssh_disconnected(  # noqa: PLR0917 - reads like the log line
    moment: datetime, host: str, pid: int, user: str, ip: str, port: int
) -> str:
    """``Disconnected from user USER IP port PORT`` (end of an authenticated session)."""
    return line(moment, host, "sshd", pid, f"Disconnected from user {user} {ip} port {port}")


def ssh_preauth_closed(  # noqa: PLR0917 - reads like the log line
    moment: datetime, host: str, pid: int, user: str, ip: str, port: int, *, invalid: bool = False
) -> str:
    """The line sshd writes when a client gives up during authentication."""
    who = "invalid" if invalid else "authenticating"
    return line(
        moment,
        host,
        "sshd",
        pid,
        f"Connection closed by {who} user {user} {ip} port {port} [preauth]",
    )


def sudo_command(
    moment: datetime, host: str, user: str, cwd: str, command: str, *, tty: str = "pts/0"
) -> str:
    """sudo's accepted-command line: ``USER : TTY=... ; PWD=... ; USER=root ; COMMAND=...``."""
    return line(
        moment,
        host,
        "sudo",
        None,
        f"{user:>8} : TTY={tty} ; PWD={cwd} ; USER=root ; COMMAND={command}",
    )


def sudo_session_opened(moment: datetime, host: str, pid: int, user: str, uid: int) -> str:
    return line(
        moment,
        host,
        "sudo",
        pid,
        f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={uid})",
    )


def sudo_session_closed(moment: datetime, host: str, pid: int) -> str:
    return line(moment, host, "sudo", pid, "pam_unix(sudo:session): session closed for user root")


def cron_session(moment: datetime, host: str, pid: int, user: str, uid: int) -> list[str]:
    """A cron job's PAM session (opened then closed in the same second, as short jobs do)."""
    return [
        line(
            moment,
            host,
            "CRON",
            pid,
            f"pam_unix(cron:session): session opened for user {user}(uid={uid}) by (uid=0)",
        ),
        line(moment, host, "CRON", pid, f"pam_unix(cron:session): session closed for user {user}"),
    ]
