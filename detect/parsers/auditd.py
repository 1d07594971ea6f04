"""Linux audit logs (``/var/log/audit/audit.log``): records joined by their serial.

One audit event is several lines (SYSCALL, EXECVE, CWD, PATH..., PROCTITLE, EOE) sharing
``msg=audit(<epoch>:<serial>)``. Lines are grouped by that key; a group is emitted at its EOE
line, when more than :attr:`AuditdParser.max_open` groups are pending (the oldest goes), or at
the end of the input. The event's position is the byte offset of its first line; its
``event.original`` is the lines joined with ``\\n``.

Fields: ``auditd.log.record_type`` (the first record's type), ``auditd.log.sequence``, and
every record's key/values as ``auditd.<type>.<key>`` (lower-case type; repeated records such as
PATH give lists), plus ECS process/user/file fields (docs/detect.md). In the ENRICHED format,
``auditd.syscall.syscall`` is the interpreted syscall name (``renameat2``), otherwise the number.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar

from detect.model import Rejected, Source, decode_line, new_event
from detect.parsers.base import Item, LineParser
from tulou.errors import InputError
from tulou.events import Event

# A record type auditd has no name for is written with its number: "UNKNOWN[1334]"; RHEL 6's
# DAEMON_* records have no ":" after the stamp.
_LINE = re.compile(
    r"(?:node=(?P<node>\S+) )?type=(?P<type>[A-Z_0-9]+(?:\[\d+\])?) "
    r"msg=audit\((?P<sec>\d+)(?:\.(?P<frac>\d+))?:(?P<serial>\d+)\):?\s?(?P<body>.*)$"
)
#: A run of key characters (``[\w-]``), matched on the reversed body to find the key that
#: ends at an ``=``; possessive, so a failed match never gives characters back.
_KEY_RUN = re.compile(r"[\w-]*+")
_BARE = re.compile(r"\S*+")
#: An "=" with a key character before it (one character, then one: never backtracks).
_KEYED_EQUALS = re.compile(r"[\w-]=")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
#: Keys auditd writes hex-encoded when the value has spaces or control characters.
_ENCODED = re.compile(r"a\d+|proctitle|name|cwd|exe|comm|path|cmd|data|acct|key")
EXECVE_SYSCALLS = {"59", "322", "221", "281", "11", "execve", "execveat"}
_AUTH_TYPES = {"USER_AUTH", "USER_LOGIN", "USER_ACCT", "USER_START", "USER_END", "CRED_ACQ"}


_encoded_keys: dict[str, bool] = {}


def _maybe_hex(key: str, bare: str) -> str:
    encoded = _encoded_keys.get(key)
    if encoded is None:
        encoded = _ENCODED.fullmatch(key) is not None
        if len(_encoded_keys) < 4096:  # keys repeat; a hostile log cannot grow the cache
            _encoded_keys[key] = encoded
    if encoded and _HEX.fullmatch(bare):
        return bytes.fromhex(bare).replace(b"\x00", b" ").decode("utf-8", errors="replace")
    return bare


def scan_pairs(body: str, pairs: dict[str, str]) -> int:
    r"""Add the ``key=value`` pairs of ``body`` to ``pairs`` (first value of a key wins).

    A key is the run of ``[\w-]`` characters before an ``=``; a value is ``"..."``, ``'...'``
    or the non-blank characters up to the next blank (an unclosed quote makes a bare value).
    Returns the number of characters the scan examined, which is at most ~4 x ``len(body)``:
    every position is looked at a bounded number of times whatever the input. (The regex this
    replaces, ``[\w-]+=...`` with ``finditer``, restarted at every character of a long run of
    key characters without an ``=`` and was quadratic: 10k malformed lines took minutes.)

    - the next ``=`` after a key character is found from the end of the previous pair (each
      character once, in C: runs of ``=`` without keys cost no Python loop);
    - the key is the run of key characters ending at it, matched on the reversed body, so
      only the key itself is examined (and never before the previous pair's end);
    - the position of the next quote of each kind is remembered, so a quote that is never
      closed costs one scan to the end, not one per ``="``.
    """
    n = len(body)
    reverse = body[::-1]
    work = n
    position = 0
    double = single = -2  # next '"' / "'" at or after the last search, -1: none left
    find = body.find
    search = _KEYED_EQUALS.search
    while True:
        found = search(body, position)
        if found is None:
            return work + n - position
        equals = found.end() - 1
        work += equals - position + 1
        run = _KEY_RUN.match(reverse, n - equals)  # always matches (possibly empty)
        run_end = run.end() if run else n - equals
        work += run_end - (n - equals) + 1
        # The match put a key character at or after ``position``, so the key is not empty.
        key = body[max(n - run_end, position) : equals]
        opening = body[equals + 1 : equals + 2]
        close = -1
        if opening == '"':
            if double != -1 and double < equals + 2:
                double = find('"', equals + 2)
                work += (double if double >= 0 else n) - equals - 1
            close = double
        elif opening == "'":
            if single != -1 and single < equals + 2:
                single = find("'", equals + 2)
                work += (single if single >= 0 else n) - equals - 1
            close = single
        if close >= 0:
            if key not in pairs:
                pairs[key] = body[equals + 2 : close]
            position = close + 1
            continue
        bare = _BARE.match(body, equals + 1)  # always matches (possibly empty)
        stop = bare.end() if bare else equals + 1
        work += stop - equals
        if key not in pairs:
            pairs[key] = _maybe_hex(key, body[equals + 1 : stop])
        position = stop


def parse_body(body: str) -> dict[str, str]:
    """``k=v k="v"`` pairs; the ENRICHED format's ``\\x1d``-separated names are kept too."""
    body = body.replace("\x1d", " ")
    pairs: dict[str, str] = {}
    scan_pairs(body, pairs)
    msg = pairs.get("msg")
    if msg is not None and "=" in msg:  # USER_* records nest their pairs in msg='...'
        scan_pairs(msg, pairs)
    return pairs


def _ecs(records: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, str]]] = {}
    for kind, pairs in records:
        by_type.setdefault(kind, []).append(pairs)
    fields: dict[str, Any] = {}
    for kind, group in by_type.items():
        prefix = f"auditd.{kind.lower().replace('[', '_').rstrip(']')}."  # unknown_1334
        if len(group) == 1:
            for key in sorted(group[0]):
                fields[prefix + key] = group[0][key]
            continue
        for key in sorted({key for pairs in group for key in pairs}):
            fields[prefix + key] = [pairs[key] for pairs in group if key in pairs]
    main = by_type.get("SYSCALL", [records[0][1]])[0]
    if len(by_type.get("SYSCALL", ())) == 1 and main.get("SYSCALL"):
        # ENRICHED logs (auditd's default log_format) name the call after the 0x1d byte; rules
        # match syscall names (Sigma's ``SYSCALL``), so the interpreted name is the field's
        # value, as ``ausearch -i`` shows it. Raw logs keep the number.
        fields["auditd.syscall.syscall"] = main["SYSCALL"]
    fields.update(
        {
            "process.pid": _int(main.get("pid")),
            "process.parent.pid": _int(main.get("ppid")),
            "process.executable": main.get("exe"),
            "process.name": main.get("comm"),
            "process.tty.name": main.get("tty")
            if main.get("tty") not in ("(none)", None)
            else None,
            "user.id": main.get("uid"),
            "user.effective.id": main.get("euid"),
            "user.audit.id": main.get("auid"),
            "user.name": main.get("acct") or main.get("UID"),
            "group.id": main.get("gid"),
            "source.ip": _ip(main.get("addr")),
            "host.hostname": main.get("hostname")
            if main.get("hostname") not in ("?", None)
            else None,
        }
    )
    result = main.get("success") or main.get("res")
    if result:
        fields["event.outcome"] = "success" if result in ("yes", "success") else "failure"
    if main.get("key") not in (None, "(null)"):
        fields["tags"] = [main["key"]]
    execve = by_type.get("EXECVE")
    if execve:
        args = execve[0]
        count = _int(args.get("argc")) or 0
        argv = [args.get(f"a{i}", "") for i in range(count)]
        fields["process.args"] = argv
        fields["process.args_count"] = count
        fields["process.command_line"] = " ".join(argv)
    cwd = by_type.get("CWD")
    if cwd:
        fields["process.working_directory"] = cwd[0].get("cwd")
    paths = [p["name"] for p in by_type.get("PATH", []) if "name" in p]
    if paths:
        fields["file.path"] = paths[-1] if main.get("syscall") not in EXECVE_SYSCALLS else None
    kind = records[0][0]
    if main.get("syscall") in EXECVE_SYSCALLS or execve:
        fields.update({"event.category": ["process"], "event.type": ["start"]})
        fields["event.action"] = "executed"
    elif kind in _AUTH_TYPES:
        fields["event.category"] = ["authentication"]
        fields["event.type"] = ["info"]
        fields["event.action"] = kind.lower()
    else:
        fields["event.action"] = kind.lower()
    return fields


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _ip(text: str | None) -> str | None:
    if text in (None, "?", ""):
        return None
    return text


class AuditdParser(LineParser):
    """Linux audit records, joined by ``(epoch, serial)`` into one event each."""

    id: ClassVar[str] = "auditd"
    description: ClassVar[str] = "Linux auditd logs (multi-line records joined by serial)"
    max_open: ClassVar[int] = 16

    def parse_line(self, line: str, source: Source, position: int) -> Event | None:
        """Parse one line as a one-record event (used by :meth:`sniff`)."""
        found = _LINE.match(line)
        if found is None:
            raise InputError("not an auditd line")
        return self._event(
            source, position, [line], [(found["type"], parse_body(found["body"]))], found
        )

    def _event(
        self,
        source: Source,
        position: int,
        lines: list[str],
        records: list[tuple[str, dict[str, str]]],
        first: re.Match[str],
    ) -> Event:
        moment = datetime.fromtimestamp(
            int(first["sec"]) + int((first["frac"] or "0")[:6].ljust(6, "0")) / 1e6, UTC
        )
        fields = _ecs(records)
        fields.update(
            {
                "event.kind": "event",
                "auditd.log.record_type": records[0][0],
                "auditd.log.record_types": [kind for kind, _ in records],
                "auditd.log.sequence": int(first["serial"]),
                "host.name": first["node"],
            }
        )
        return new_event(self.id, source, position, moment, "\n".join(lines), fields)

    def parse(self, stream: BinaryIO, source: Source) -> Iterator[Item]:
        pending: OrderedDict[
            str, tuple[int, list[str], list[tuple[str, dict[str, str]]], re.Match[str]]
        ]
        pending = OrderedDict()
        position = source.offset
        for raw in stream:
            here = position
            position += len(raw)
            if not raw.strip():
                continue
            if len(raw) > self.max_line:
                yield Rejected(here, f"line longer than {self.max_line} bytes", raw)
                continue
            line = decode_line(raw)
            found = _LINE.match(line)
            if found is None:
                yield Rejected(here, "not an auditd line", raw)
                continue
            key = f"{found['sec']}.{found['frac']}:{found['serial']}"
            kind = found["type"]
            if key not in pending:
                pending[key] = (here, [], [], found)
            entry = pending[key]
            entry[1].append(line)
            if kind != "EOE":
                entry[2].append((kind, parse_body(found["body"])))
            if kind == "EOE":
                yield from self._flush(source, pending.pop(key))
            while len(pending) > self.max_open:
                yield from self._flush(source, pending.popitem(last=False)[1])
        while pending:
            yield from self._flush(source, pending.popitem(last=False)[1])

    def _flush(
        self,
        source: Source,
        entry: tuple[int, list[str], list[tuple[str, dict[str, str]]], re.Match[str]],
    ) -> Iterator[Item]:
        position, lines, records, first = entry
        if not records:  # a lone EOE whose records were already flushed
            records = [("EOE", {})]
        try:
            yield self._event(source, position, lines, records, first)
        except (ValueError, OverflowError, KeyError) as exc:
            yield Rejected(
                position, f"auditd: {type(exc).__name__}: {exc}", "\n".join(lines).encode()
            )
