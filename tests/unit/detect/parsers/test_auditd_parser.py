# ruff: noqa: E501 - real log lines and packets are longer than code lines
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect.parsers import auditd
from detect.parsers.auditd import AuditdParser, _maybe_hex, parse_body, scan_pairs
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


# The key=value grammar as the regex the scanner replaced states it (kept here as the reference:
# same pairs, first value of a key wins; it is quadratic on long key-character runs, so it is
# only run on small inputs).
_REFERENCE_PAIR = re.compile(
    r"""(?P<key>[\w-]+)=(?:"(?P<quoted>[^"]*)"|'(?P<single>[^']*)'|(?P<bare>\S*))"""
)


def _reference_pairs(body: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for found in _REFERENCE_PAIR.finditer(body):
        if found["quoted"] is not None:
            value = found["quoted"]
        elif found["single"] is not None:
            value = found["single"]
        else:
            value = _maybe_hex(found["key"], found["bare"])
        pairs.setdefault(found["key"], value)
    return pairs


# Bodies built from runs of the characters the grammar cares about (long runs are the
# pathological cases: key characters without "=", quotes never closed, "=" without keys).
_PIECES = ["a", "key", "=", '"', "'", " ", ".", "2F62", "\t", "é", "-", "x=", '="', "='"]


def _bodies(longest: int) -> st.SearchStrategy[str]:
    runs = st.lists(st.tuples(st.sampled_from(_PIECES), st.integers(1, longest)), max_size=12)
    return runs.map(lambda pieces: "".join(piece * count for piece, count in pieces))


@settings(max_examples=300, deadline=None)
@given(body=_bodies(40))
def test_scanner_gives_the_pairs_of_the_reference_grammar(body: str) -> None:
    pairs: dict[str, str] = {}
    scan_pairs(body, pairs)
    assert pairs == _reference_pairs(body)


@settings(max_examples=300, deadline=None)
@given(body=_bodies(2000))
def test_scanner_work_is_linear_in_the_body(body: str) -> None:
    # Counted work, not time: every character is examined a bounded number of times.
    assert scan_pairs(body, {}) <= 4 * len(body) + 4


def test_ten_thousand_malformed_lines_cost_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shape that took 175 s for 10k lines: a long hex run whose "=" a corruption removed
    # (here 2 KiB lines), next to unclosed quotes and keys without values.
    shapes = [
        "type=PROCTITLE msg=audit(1772352000.1:{n}): proctitle" + "2F7573722F62696E" * 128,
        'type=EXECVE msg=audit(1772352000.1:{n}): argc=2 a0="' + "x=" * 1000,
        "type=SYSCALL msg=audit(1772352000.1:{n}): " + "= " * 1000,
    ]
    lines = [shapes[i % 3].format(n=i) for i in range(10_000)]
    data = "\n".join(lines).encode() + b"\n"
    work = 0
    real_scan = auditd.scan_pairs

    def counting(body: str, pairs: dict[str, str]) -> int:
        nonlocal work
        done = real_scan(body, pairs)
        work += done
        return done

    monkeypatch.setattr(auditd, "scan_pairs", counting)
    events, rejected = run(AuditdParser(), data)
    assert len(events) + len(rejected) == 10_000
    assert work <= 4 * len(data)


def test_real_proctitle_and_nested_msg_pairs() -> None:
    # A real RHEL 7 PROCTITLE (hex, NUL-separated argv) and a USER_CMD with msg='...' pairs.
    body = "proctitle=2F7573722F62696E2F7375646F002D75006170616368650069640069"
    assert parse_body(body) == {"proctitle": "/usr/bin/sudo -u apache id i"}
    nested = parse_body("pid=1 uid=0 msg='cwd=\"/root\" cmd=6C73202D6C terminal=pts/0 res=success'")
    assert nested["cmd"] == "ls -l"
    assert nested["cwd"] == "/root"
    assert nested["res"] == "success"


def test_real_record_shapes_unknown_types_and_rhel6_daemon_records() -> None:
    # auditd 3 writes a type it has no name for as UNKNOWN[number]; RHEL 6 DAEMON_* records
    # have no ":" after the stamp (both seen in distributions' test logs).
    data = (
        b"type=UNKNOWN[1334] msg=audit(1626883065.201:216697): prog-id=45 op=UNLOAD\n"
        b"type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed, auid=0 pid=1512 res=success\n"
        b"type=UNKNOWN[1329] msg=?\n"
    )
    events, rejected = run(AuditdParser(), data)
    unknown, daemon = events
    check(
        unknown,
        {
            "auditd.log.record_type": "UNKNOWN[1334]",
            "auditd.unknown_1334.prog-id": "45",
            "auditd.log.sequence": 216697,
        },
    )
    check(daemon, {"auditd.daemon_config.pid": "1512", "event.outcome": "success"})
    assert [r.reason for r in rejected] == ["not an auditd line"]  # no stamp: cannot be placed
