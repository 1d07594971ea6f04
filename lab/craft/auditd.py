"""Linux audit records as ``auditd`` writes them to ``/var/log/audit/audit.log``.

Format: ``node=HOST type=TYPE msg=audit(EPOCH.MMM:SERIAL): key=value ...``, one line per record,
all records of one event sharing ``(EPOCH.MMM:SERIAL)`` and closed by an ``EOE`` record.
``node=`` appears when auditd.conf sets ``name_format = hostname`` (as a central log collector
needs). The lines are in the ``ENRICHED`` log format (auditd's shipped default): after the raw
fields, a ``0x1d`` byte then the interpreted ``ARCH=``/``SYSCALL=`` names and user names.

Untrusted strings follow the kernel's ``audit_log_untrustedstring``: quoted when they hold only
printable ASCII other than ``"`` and space, otherwise upper-case hex. ``PROCTITLE`` is the
NUL-joined argv in hex, cut at 128 bytes like the kernel does. Syscall numbers are x86_64's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

#: x86_64 syscall numbers (arch c000003e) of the calls the lab records.
SYSCALLS = {
    "execve": 59,
    "openat": 257,
    "rename": 82,
    "renameat": 264,
    "renameat2": 316,
    "unlink": 87,
    "unlinkat": 263,
}
ARCH = "c000003e"
PROCTITLE_MAX = 128
_GS = "\x1d"  # ENRICHED: separates the raw fields from the interpreted ones


def encode(value: str) -> str:
    """A string field as the kernel logs it: ``"text"`` or upper-case hex."""
    if value and all(0x21 <= ord(c) <= 0x7E and c != '"' for c in value):
        return f'"{value}"'
    return value.encode().hex().upper()


def proctitle(argv: Sequence[str]) -> str:
    return "\x00".join(argv).encode()[:PROCTITLE_MAX].hex().upper()


@dataclass(frozen=True)
class Actor:
    """Who runs the process: host, ids and names as auditd records them."""

    node: str
    uid: int = 0
    auid: int = 0
    user: str = "root"
    login: str = "root"
    ses: int = 1
    tty: str = "(none)"


@dataclass(frozen=True)
class PathItem:
    """One ``PATH`` record: a name the syscall touched and its role (``nametype``)."""

    name: str
    nametype: str = "NORMAL"
    inode: int = 0
    mode: str = "0100644"


def _head(actor: Actor, kind: str, moment: datetime, serial: int) -> str:
    millis = int(moment.timestamp() * 1000)
    return (
        f"node={actor.node} type={kind} msg=audit({millis // 1000}.{millis % 1000:03d}:{serial}):"
    )


def _syscall(  # noqa: PLR0917 - one field per argument, as the record has
    actor: Actor,
    moment: datetime,
    serial: int,
    syscall: str,
    items: int,
    pid: int,
    ppid: int,
    comm: str,
    exe: str,
    key: str | None,
    exit_code: int = 0,
) -> str:
    enriched = (
        f'ARCH=x86_64 SYSCALL={syscall} AUID="{actor.login}" UID="{actor.user}" '
        f'GID="{actor.user}" EUID="{actor.user}" SUID="{actor.user}" FSUID="{actor.user}" '
        f'EGID="{actor.user}" SGID="{actor.user}" FSGID="{actor.user}"'
    )
    return (
        f"{_head(actor, 'SYSCALL', moment, serial)} arch={ARCH} syscall={SYSCALLS[syscall]} "
        f"success=yes exit={exit_code} a0=7ffd3c1e a1=55e4a2b0 a2=0 a3=0 items={items} "
        f"ppid={ppid} pid={pid} auid={actor.auid} uid={actor.uid} gid={actor.uid} "
        f"euid={actor.uid} suid={actor.uid} fsuid={actor.uid} egid={actor.uid} sgid={actor.uid} "
        f"fsgid={actor.uid} tty={actor.tty} ses={actor.ses} comm={encode(comm)} exe={encode(exe)} "
        f"subj=unconfined key={encode(key) if key else '(null)'}{_GS}{enriched}"
    )


def _paths(actor: Actor, moment: datetime, serial: int, paths: Sequence[PathItem]) -> list[str]:
    out = []
    for item, path in enumerate(paths):
        mode = "040755" if path.nametype == "PARENT" else path.mode
        out.append(
            f"{_head(actor, 'PATH', moment, serial)} item={item} name={encode(path.name)} "
            f"inode={path.inode or 1000 + item} dev=fd:01 mode={mode} ouid={actor.uid} "
            f"ogid={actor.uid} rdev=00:00 nametype={path.nametype} cap_fp=0 cap_fi=0 cap_fe=0 "
            f'cap_fver=0 cap_frootid=0{_GS}OUID="{actor.user}" OGID="{actor.user}"'
        )
    return out


def execve(
    actor: Actor,
    moment: datetime,
    serial: int,
    argv: Sequence[str],
    exe: str,
    *,
    cwd: str = "/",
    pid: int = 4242,
    ppid: int = 4200,
    key: str | None = "exec",
) -> list[str]:
    """An ``execve`` event: SYSCALL, EXECVE (argv), CWD, PATH (program, loader), PROCTITLE, EOE."""
    args = " ".join(f"a{i}={encode(arg)}" for i, arg in enumerate(argv))
    comm = exe.rsplit("/", 1)[-1][:15]
    return [
        _syscall(actor, moment, serial, "execve", 2, pid, ppid, comm, exe, key),
        f"{_head(actor, 'EXECVE', moment, serial)} argc={len(argv)} {args}",
        f"{_head(actor, 'CWD', moment, serial)} cwd={encode(cwd)}",
        *_paths(
            actor,
            moment,
            serial,
            [
                PathItem(exe, mode="0100755"),
                PathItem("/lib64/ld-linux-x86-64.so.2", mode="0100755"),
            ],
        ),
        f"{_head(actor, 'PROCTITLE', moment, serial)} proctitle={proctitle(argv)}",
        f"{_head(actor, 'EOE', moment, serial)} ",
    ]


def file_syscall(
    actor: Actor,
    moment: datetime,
    serial: int,
    syscall: str,
    paths: Sequence[PathItem],
    *,
    exe: str,
    argv: Sequence[str],
    cwd: str = "/",
    pid: int = 4242,
    ppid: int = 4200,
    key: str | None = None,
    exit_code: int = 0,
) -> list[str]:
    """A watched file operation (``openat``, ``renameat2``, ``unlinkat``...) by ``exe``."""
    comm = exe.rsplit("/", 1)[-1][:15]
    return [
        _syscall(actor, moment, serial, syscall, len(paths), pid, ppid, comm, exe, key, exit_code),
        f"{_head(actor, 'CWD', moment, serial)} cwd={encode(cwd)}",
        *_paths(actor, moment, serial, paths),
        f"{_head(actor, 'PROCTITLE', moment, serial)} proctitle={proctitle(argv)}",
        f"{_head(actor, 'EOE', moment, serial)} ",
    ]


def rename(
    actor: Actor,
    moment: datetime,
    serial: int,
    old: str,
    new: str,
    *,
    exe: str,
    argv: Sequence[str],
    pid: int = 4242,
    ppid: int = 4200,
    key: str | None = None,
) -> list[str]:
    """``renameat2(old, new)``: PATH records parent, parent, old (DELETE), new (CREATE)."""
    old_dir, old_name = old.rsplit("/", 1)
    new_dir, new_name = new.rsplit("/", 1)
    return file_syscall(
        actor,
        moment,
        serial,
        "renameat2",
        [
            PathItem(old_dir + "/", "PARENT"),
            PathItem(new_dir + "/", "PARENT"),
            PathItem(old_name, "DELETE"),
            PathItem(new_name, "CREATE"),
        ],
        exe=exe,
        argv=argv,
        cwd=old_dir,
        pid=pid,
        ppid=ppid,
        key=key,
    )


def unlink(
    actor: Actor,
    moment: datetime,
    serial: int,
    path: str,
    *,
    exe: str,
    argv: Sequence[str],
    pid: int = 4242,
    ppid: int = 4200,
    key: str | None = None,
) -> list[str]:
    """``unlinkat(path)``: PATH records parent and the name (DELETE)."""
    folder, name = path.rsplit("/", 1)
    return file_syscall(
        actor,
        moment,
        serial,
        "unlinkat",
        [PathItem(folder + "/", "PARENT"), PathItem(name, "DELETE")],
        exe=exe,
        argv=argv,
        cwd=folder,
        pid=pid,
        ppid=ppid,
        key=key,
    )
