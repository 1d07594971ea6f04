# ruff: noqa: E501 - real log lines and packets are longer than code lines
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detect.parsers import auth
from detect.parsers.auth import AuthLogParser
from tests.unit.detect.parsers.helpers import check, run

LOG = b"""Mar  3 10:00:01 web1 sshd[1234]: Failed password for invalid user admin from 203.0.113.9 port 51234 ssh2
Mar  3 10:00:05 web1 sshd[1240]: Accepted publickey for alice from 10.0.0.5 port 50000 ssh2: ED25519 SHA256:abc
Mar  3 10:00:07 web1 sshd[1250]: Invalid user oracle from 198.51.100.7 port 40022
Mar  3 10:01:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx
Mar  3 10:02:00 web1 sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh
Mar  3 10:03:00 web1 sshd[1300]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root
Mar  3 10:04:00 web1 su[1400]: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)
Mar  3 10:05:00 web1 sshd[1240]: Disconnected from user alice 10.0.0.5 port 50000
"""


def test_auth_log_fields() -> None:
    events, rejected = run(AuthLogParser(year=2026), LOG)
    assert rejected == []
    failed, accepted, invalid, sudo, sudo_fail, pam, su, bye = events
    check(
        failed,
        {
            "event.dataset": "auth",
            "event.category": ["authentication"],
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "admin",
            "source.ip": "203.0.113.9",
            "source.port": 51234,
            "auth.ssh.method": "password",
            "auth.ssh.invalid_user": True,
            "process.name": "sshd",
            "process.pid": 1234,
            "host.hostname": "web1",
            "related.ip": ["203.0.113.9"],
        },
    )
    check(
        accepted,
        {
            "event.outcome": "success",
            "event.type": ["start"],
            "user.name": "alice",
            "auth.ssh.method": "publickey",
            "auth.ssh.signature": "ED25519 SHA256:abc",
        },
    )
    check(
        invalid, {"event.action": "ssh_invalid_user", "user.name": "oracle", "source.port": 40022}
    )
    check(
        sudo,
        {
            "event.category": ["process"],
            "event.action": "sudo_command",
            "event.outcome": "success",
            "user.name": "alice",
            "user.effective.name": "root",
            "process.command_line": "/usr/bin/systemctl restart nginx",
            "process.executable": "/usr/bin/systemctl",
            "process.working_directory": "/home/alice",
            "process.tty.name": "pts/0",
        },
    )
    check(
        sudo_fail,
        {
            "event.action": "sudo_auth_failure",
            "event.outcome": "failure",
            "user.name": "bob",
            "error.message": "3 incorrect password attempts",
        },
    )
    check(
        pam,
        {"event.action": "sshd_auth_failure", "user.name": "root", "source.address": "203.0.113.9"},
    )
    check(
        su,
        {
            "event.action": "su_session_opened",
            "user.name": "root",
            "related.user": ["alice", "root"],
        },
    )
    check(bye, {"event.action": "ssh_disconnect", "event.type": ["end"], "user.name": "alice"})


def test_auth_parser_is_chosen_for_auth_logs() -> None:
    from detect.parsers import default_registry

    assert default_registry().detect(LOG).id == "auth"
    plain = b"Mar  3 10:00:01 web1 kernel: eth0 up\nMar  3 10:00:02 web1 kernel: eth1 up\n"
    assert default_registry().detect(plain).id == "syslog"


PIECES = ["alice", "bob", " : ", " ; ", "TTY=", "pts/0", "PWD=", "/home/x", "USER=", "root"]
PIECES += [" GROUP=", "wheel", " ENV=", "A=1", " COMMAND=", "COMMAND=", "/bin/sh -c", " ", ";"]
PIECES += ["3 incorrect password attempts", "  "]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(PIECES), max_size=14).map("".join),
        st.tuples(  # well-formed, with odd parts
            st.sampled_from(["", "  ", "3 incorrect password attempts ; ", "x ; TTY=a ; "]),
            st.text(max_size=4),
            st.sampled_from(["", " GROUP=g ;", " ENV=A=1 B ;"]),
            st.sampled_from(["/usr/bin/id", "/bin/sh -c 'a ; TTY=b ; PWD=c ; USER=d ; COMMAND=e'"]),
        ).map(lambda t: f"u : {t[0]}TTY=pts/1 ; PWD=/w{t[1]} ; USER=root ;{t[2]} COMMAND={t[3]}"),
    )
)
def test_the_sudo_fast_path_gives_what_the_full_pattern_gives(message: str) -> None:
    full = auth._SUDO.match(message)
    if message.count("TTY=") == 1:
        plain = auth._SUDO_PLAIN.match(message)
        if plain is not None:
            assert full is not None
            user, failure, *rest = full.groups()
            assert failure is None
            assert plain.groups() == (user, *rest)
    got = auth._sudo(message)
    if full is None:
        assert got is None
    else:
        assert got is not None
        assert got["user.name"] == full["user"]
        assert got["error.message"] == full["failure"]
        assert got["process.command_line"] == full["command"]
        assert (got["process.tty.name"], got["process.working_directory"]) == (
            full["tty"],
            full["pwd"],
        )
        assert got["user.effective.name"] == full["target"]
