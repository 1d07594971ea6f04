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

_LINE = re.compile(
    r"(?:node=(?P<node>\S+) )?type=(?P<type>[A-Z_0-9]+) msg=audit\((?P<sec>\d+)(?:\.(?P<frac>\d+))?"
    r":(?P<serial>\d+)\):\s?(?P<body>.*)$"
)
_PAIR = re.compile(r"""(?P<key>[\w-]+)=(?:"(?P<quoted>[^"]*)"|'(?P<single>[^']*)'|(?P<bare>\S*))""")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
#: Keys auditd writes hex-encoded when the value has spaces or control characters.
_ENCODED = re.compile(r"a\d+|proctitle|name|cwd|exe|comm|path|cmd|data|acct|key")
EXECVE_SYSCALLS = {"59", "322", "221", "281", "11", "execve", "execveat"}
_AUTH_TYPES = {"USER_AUTH", "USER_LOGIN", "USER_ACCT", "USER_START", "USER_END", "CRED_ACQ"}


def _value(match: re.Match[str]) -> str:
    if match["quoted"] is not None:
        return match["quoted"]
    if match["single"] is not None:
        return match["single"]
    bare = match["bare"]
    if _ENCODED.fullmatch(match["key"]) and _HEX.fullmatch(bare):
        return bytes.fromhex(bare).replace(b"\x00", b" ").decode("utf-8", errors="replace")
    return bare


def parse_body(body: str) -> dict[str, str]:
    """``k=v k="v"`` pairs; the ENRICHED format's ``\\x1d``-separated names are kept too."""
    body = body.replace("\x1d", " ")
    pairs: dict[str, str] = {}
    for found in _PAIR.finditer(body):
        pairs.setdefault(found["key"], _value(found))
    msg = pairs.get("msg")
    if msg is not None and "=" in msg:  # USER_* records nest their pairs in msg='...'
        for found in _PAIR.finditer(msg):
            pairs.setdefault(found["key"], _value(found))
    return pairs


def _ecs(records: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, str]]] = {}
    for kind, pairs in records:
        by_type.setdefault(kind, []).append(pairs)
    fields: dict[str, Any] = {}
    for kind, group in by_type.items():
        keys = {key for pairs in group for key in pairs}
        for key in sorted(keys):
            values = [pairs[key] for pairs in group if key in pairs]
            fields[f"auditd.{kind.lower()}.{key}"] = values[0] if len(group) == 1 else values
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
