# ruff: noqa: E501 - real log lines and packets are longer than code lines
from __future__ import annotations

from detect.parsers.auditd import AuditdParser
from tests.unit.detect.parsers.helpers import check, run

LOG = (
    b"type=SYSCALL msg=audit(1772352000.123:456): arch=c000003e syscall=59 success=yes exit=0 "
    b"a0=55d0 a1=55d1 items=2 ppid=1000 pid=1234 auid=1000 uid=0 gid=0 euid=0 tty=pts0 ses=3 "
    b'comm="curl" exe="/usr/bin/curl" key="exec_watch"\n'
    b'type=EXECVE msg=audit(1772352000.123:456): argc=3 a0="curl" a1="-o" a2=2F746D702F782073682E7368\n'
    b'type=CWD msg=audit(1772352000.123:456): cwd="/root"\n'
    b"type=USER_LOGIN msg=audit(1772352001.000:457): pid=2000 uid=0 auid=1001 ses=4 "
    b'msg=\'op=login acct="bob" exe="/usr/sbin/sshd" hostname=? addr=203.0.113.9 terminal=ssh res=failed\'\n'
    b'type=PATH msg=audit(1772352000.123:456): item=0 name="/usr/bin/curl" nametype=NORMAL\n'
    b'type=PATH msg=audit(1772352000.123:456): item=1 name="/lib64/ld-linux-x86-64.so.2" nametype=NORMAL\n'
    b"type=EOE msg=audit(1772352000.123:456): \n"
)


def test_records_are_joined_by_serial() -> None:
    events, rejected = run(AuditdParser(), LOG)
    assert rejected == []
    execve, login = events
    check(
        execve,
        {
            "@timestamp": "2026-03-01T08:00:00.123Z",
            "event.dataset": "auditd",
            "event.category": ["process"],
            "event.type": ["start"],
            "event.action": "executed",
            "event.outcome": "success",
            "auditd.log.record_type": "SYSCALL",
            "auditd.log.record_types": ["SYSCALL", "EXECVE", "CWD", "PATH", "PATH"],
            "auditd.log.sequence": 456,
            "auditd.syscall.syscall": "59",
            "auditd.execve.a0": "curl",
            "auditd.execve.a2": "/tmp/x sh.sh",
            "auditd.path.name": ["/usr/bin/curl", "/lib64/ld-linux-x86-64.so.2"],
            "process.pid": 1234,
            "process.parent.pid": 1000,
            "process.executable": "/usr/bin/curl",
            "process.name": "curl",
            "process.args": ["curl", "-o", "/tmp/x sh.sh"],
            "process.args_count": 3,
            "process.command_line": "curl -o /tmp/x sh.sh",
            "process.working_directory": "/root",
            "user.id": "0",
            "user.audit.id": "1000",
            "tags": ["exec_watch"],
            "log.offset": 0,
        },
    )
    assert execve["event.original"].count("\n") == 5  # six lines joined, EOE included
    check(
        login,
        {
            "event.category": ["authentication"],
            "event.action": "user_login",
            "event.outcome": "failure",
            "user.name": "bob",
            "source.ip": "203.0.113.9",
            "auditd.log.sequence": 457,
        },
    )


def test_garbage_lines_are_rejected_and_others_survive() -> None:
    events, rejected = run(AuditdParser(), b"hello\n" + LOG)
    assert len(events) == 2
    assert rejected[0].position == 0
