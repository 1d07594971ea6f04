# ruff: noqa: E501 - real log lines and packets are longer than code lines
from __future__ import annotations

from pathlib import Path

import pytest
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


# Brute-force shapes of real auth logs (Ubuntu 16.04 OpenSSH 7.2 with rsyslog, RHEL 4's
# "sshd(pam_unix)" tag, OpenSSH 8 "Disconnecting authenticating user", Solaris' message ids):
# every one is an authentication failure with the attacker's address.
BRUTE_FORCE = [
    (
        "Mar 29 13:07:13 ip-10-77-20-248 sshd[2257]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=85.245.107.41",
        {"event.action": "sshd_auth_failure", "source.ip": "85.245.107.41", "user.name": None},
    ),
    (
        "Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet.net  user=root",
        {
            "event.action": "sshd_auth_failure",
            "source.domain": "220-135-151-1.hinet.net",
            "user.name": "root",
            "process.name": "sshd",
            "process.pid": 20882,
        },
    ),
    (
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4",
        {"event.action": "sshd_auth_failure", "source.ip": "218.188.2.4"},
    ),
    (
        "May 12 09:48:03 vaio sshd[16021]: (pam_unix) authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.12",
        {"event.action": "sshd_auth_failure", "source.ip": "198.51.100.12"},
    ),
    (
        "Mar 29 23:18:33 ip-10-77-20-248 sshd[6402]: message repeated 5 times: [ Failed password for root from 218.60.136.106 port 56338 ssh2]",
        {
            "event.action": "ssh_login",
            "user.name": "root",
            "source.ip": "218.60.136.106",
            "source.port": 56338,
            "log.syslog.repeated": 5,
        },
    ),
    (
        "Mar 27 14:01:39 ip-10-77-20-248 sshd[2938]: error: maximum authentication attempts exceeded for root from 122.176.37.221 port 37107 ssh2 [preauth]",
        {
            "event.action": "ssh_max_auth_tries_exceeded",
            "user.name": "root",
            "source.ip": "122.176.37.221",
            "source.port": 37107,
        },
    ),
    (
        "Mar 27 14:54:58 ip-10-77-20-248 sshd[2967]: error: maximum authentication attempts exceeded for invalid user support from 95.152.57.58 port 53679 ssh2 [preauth]",
        {"user.name": "support", "auth.ssh.invalid_user": True, "source.ip": "95.152.57.58"},
    ),
    (
        "Oct  2 07:11:40 bastion sshd[40121]: Disconnecting authenticating user root 203.0.113.77 port 61234: Too many authentication failures [preauth]",
        {"event.action": "ssh_max_auth_tries_exceeded", "source.ip": "203.0.113.77"},
    ),
    (
        "Apr 29 12:53:38 mac.local sshd[47831]: error: PAM: authentication failure for james from 192.0.2.88 via 192.168.1.201",
        {"event.action": "ssh_login", "user.name": "james", "source.ip": "192.0.2.88"},
    ),
    (
        "Mar 29 05:20:09 dusky sshd[19558]: [ID 800047 auth.info] Failed keyboard-interactive/pam for james from 205.186.180.30 port 54520 ssh2",
        {"event.action": "ssh_login", "auth.ssh.method": "keyboard-interactive/pam"},
    ),
    (
        "Feb 25 14:34:11 belka sshd[31603]: Failed password for invalid user ROOT from 2001:db8::1:1",
        {"event.action": "ssh_login", "source.ip": "2001:db8::1:1", "source.port": None},
    ),
    (
        "Feb 25 14:34:11 belka sshd[31607]: User root from 192.0.2.9 not allowed because not listed in AllowUsers",
        {"event.action": "ssh_user_not_allowed", "source.ip": "192.0.2.9", "user.name": "root"},
    ),
    (
        "Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM ::ffff:192.0.2.4",
        {"event.action": "ssh_root_login_refused", "source.ip": "192.0.2.4"},
    ),
]


@pytest.mark.parametrize(("line", "expected"), BRUTE_FORCE, ids=lambda v: str(v)[:40])
def test_brute_force_shapes_are_authentication_failures(
    line: str, expected: dict[str, object]
) -> None:
    (event,), rejected = run(AuthLogParser(year=2026), (line + "\n").encode())
    assert rejected == []
    check(
        event,
        {"event.category": ["authentication"], "event.outcome": "failure", **expected},
    )
    if event.get("source.ip"):
        assert event["related.ip"] == [event["source.ip"]]


@pytest.mark.parametrize(
    "line",
    [
        # Restatements of failures sshd logged one by one: counting them would count twice.
        "Mar 29 14:15:52 h sshd[2414]: PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=181.25.206.27",
        "Mar 29 14:15:38 h sshd[2414]: pam_unix(sshd:auth): check pass; user unknown",
        "Mar 29 14:15:38 h sshd[2414]: PAM service(sshd) ignoring max retries; 6 > 3",
    ],
)
def test_summary_lines_are_not_counted_as_failures(line: str) -> None:
    (event,), _ = run(AuthLogParser(year=2026), (line + "\n").encode())
    assert "event.category" not in event
    assert event["process.name"] == "sshd"


@pytest.mark.corpus
def test_real_ubuntu_brute_force_failures_all_have_an_address(shared_data: Path) -> None:
    # Every line of the real auth.log that reports a failed attempt is an authentication
    # failure event with the attacker's address (before: 22% of PAM failures and every
    # "message repeated" and "maximum authentication attempts" line had none).
    data = (shared_data / "logs" / "auth" / "auth.log").read_bytes()
    events, rejected = run(AuthLogParser(year=2017), data)
    assert rejected == []
    markers = ("authentication failure;", "Failed ", "maximum authentication attempts")
    attempts = [
        e
        for e in events
        if any(m in e["message"] for m in markers)
        and "more authentication failures" not in e["message"]
    ]
    assert len(attempts) > 900
    for event in attempts:
        assert event.get("event.outcome") == "failure", event["message"]
        assert event.get("source.ip") or event.get("source.address"), event["message"]
    repeated = [e for e in attempts if "log.syslog.repeated" in e]
    assert sum(e["log.syslog.repeated"] for e in repeated) >= 5 * len(repeated) // 2
