"""Crafted auth.log lines read back by detect's own auth parser into the expected ECS fields."""

from __future__ import annotations

from datetime import UTC, datetime

from detect.parsers.auth import AuthLogParser
from detect.parsers.syslog import parse_header
from detect.parsers.syslog_time import LocalClock
from lab.craft import syslog
from tests.unit.detect.parsers.helpers import check, run

AT = datetime(2026, 3, 1, 8, 5, 9, 730000, tzinfo=UTC)


def parse(line: str) -> dict[str, object]:
    events, rejected = run(AuthLogParser(year=2026), (line + "\n").encode())
    assert rejected == []
    (event,) = events
    return event


def test_header_is_rfc3164_with_a_space_padded_day_in_the_citys_time() -> None:
    text = syslog.line(AT, "hr-app01", "sshd", 812, "x")
    assert text == "Mar  1 16:05:09 hr-app01 sshd[812]: x"  # 08:05:09 UTC is 16:05:09 CST
    header = parse_header(text, LocalClock(year=2026))
    assert (header.host, header.program, header.pid) == ("hr-app01", "sshd", 812)
    assert header.timestamp == "2026-03-01T08:05:09.000Z"
    assert syslog.stamp(datetime(2026, 12, 24, 23, 0, tzinfo=UTC)) == "Dec 25 07:00:00"


def test_failed_password_is_a_failed_ssh_login() -> None:
    event = parse(syslog.ssh_failed_password(AT, "hr-app01", 812, "li.na", "198.51.100.7", 50022))
    check(
        event,
        {
            "@timestamp": "2026-03-01T08:05:09.000Z",
            "event.dataset": "auth",
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "li.na",
            "source.ip": "198.51.100.7",
            "source.port": 50022,
            "host.name": "hr-app01",
            "process.name": "sshd",
        },
    )
    assert event.get("auth.ssh.invalid_user") is None


def test_invalid_user_lines() -> None:
    probe = parse(syslog.ssh_invalid_user(AT, "h", 9, "chen.jie", "203.0.113.4", 4000))
    check(probe, {"event.action": "ssh_invalid_user", "event.outcome": "failure"})
    failed = parse(
        syslog.ssh_failed_password(AT, "h", 9, "chen.jie", "203.0.113.4", 4000, invalid=True)
    )
    check(
        failed,
        {
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "chen.jie",
            "auth.ssh.invalid_user": True,
        },
    )


def test_accepted_publickey_carries_the_key() -> None:
    event = parse(
        syslog.ssh_accepted(
            AT, "h", 9, "ops", "10.20.3.4", 6000, method="publickey", fingerprint="abc123"
        )
    )
    check(
        event,
        {
            "event.action": "ssh_login",
            "event.outcome": "success",
            "auth.ssh.method": "publickey",
            "auth.ssh.signature": "ED25519 SHA256:abc123",
            "source.ip": "10.20.3.4",
        },
    )


def test_pam_and_session_lines() -> None:
    failure = parse(syslog.ssh_pam_failure(AT, "h", 9, "li.na", "198.51.100.7"))
    check(failure, {"event.action": "sshd_auth_failure", "user.name": "li.na"})
    opened = parse(syslog.ssh_session_opened(AT, "h", 9, "li.na", 1002))
    check(opened, {"event.action": "sshd_session_opened", "event.type": ["start"]})
    closed = parse(syslog.ssh_session_closed(AT, "h", 9, "li.na"))
    check(closed, {"event.action": "sshd_session_closed", "event.type": ["end"]})
    gone = parse(syslog.ssh_disconnected(AT, "h", 9, "li.na", "10.0.0.9", 5000))
    check(gone, {"event.action": "ssh_disconnect", "source.ip": "10.0.0.9"})
    preauth = parse(syslog.ssh_preauth_closed(AT, "h", 9, "li.na", "10.0.0.9", 5000))
    assert preauth.get("event.action") is None  # no login outcome: not counted as a failure


def test_sudo_command_and_cron() -> None:
    event = parse(
        syslog.sudo_command(AT, "h", "ops", "/home/ops", "/usr/bin/systemctl restart nginx")
    )
    check(
        event,
        {
            "event.action": "sudo_command",
            "event.outcome": "success",
            "user.name": "ops",
            "user.effective.name": "root",
            "process.command_line": "/usr/bin/systemctl restart nginx",
            "process.working_directory": "/home/ops",
        },
    )
    opened, closed = (parse(text) for text in syslog.cron_session(AT, "h", 77, "root", 0))
    check(opened, {"event.action": "cron_session_opened", "user.name": "root"})
    check(closed, {"event.action": "cron_session_closed"})
    check(parse(syslog.sudo_session_opened(AT, "h", 7, "ops", 1001)), {"user.name": "root"})
    check(parse(syslog.sudo_session_closed(AT, "h", 7)), {"event.action": "sudo_session_closed"})
