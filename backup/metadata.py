"""File metadata: what a tree node records from ``lstat`` and xattrs, and how restore applies it.

Recorded, as restic records it: type, permission bits (with setuid, setgid, sticky), mtime
and ctime (ns), uid and gid (and the user and group names, for people), inode, device and
link count of files (hard links), the device number of device nodes, symlink targets, and every
extended attribute the process can read (``user.*``, ``security.*``, ``trusted.*`` as root,
and ``system.posix_acl_access`` / ``system.posix_acl_default``, which hold POSIX ACLs).
Not recorded, unlike restic: the access time. Anything that reads a file or lists a directory
(the backup itself) moves it, so recording it would make every tree blob new on every run
(borg leaves it out by default for the same reason); a restore sets atime = mtime.

Applied on restore, in this order, because each step can undo an earlier one: owner
(``lchown`` clears setuid/setgid bits and file capabilities), xattrs (an ACL sets the group
bits), permission bits, then times (every other change touches ctime only, never mtime).
Ownership is restored by number, as restic does, and only when running as root (any other user
may not give files away); symlinks get owner, xattrs and times, never a mode (Linux has none).
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from collections.abc import Callable

from backup.tree import Node, display

#: ``st_mode`` file type -> node type; anything else (whiteouts, doors) is not backed up.
_TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFCHR: "chardev",
    stat.S_IFBLK: "dev",
    stat.S_IFSOCK: "socket",
}
_NO_XATTRS = (errno.ENOTSUP, errno.EOPNOTSUPP)


def node_type(st: os.stat_result) -> str | None:
    return _TYPES.get(stat.S_IFMT(st.st_mode))


class Names:
    """uid -> user name and gid -> group name, looked up once per id (NSS calls are slow)."""

    def __init__(self) -> None:
        self._users: dict[int, str] = {}
        self._groups: dict[int, str] = {}

    def user(self, uid: int) -> str:
        name = self._users.get(uid)
        if name is None:
            try:
                name = _text(pwd.getpwuid(uid).pw_name)
            except KeyError:
                name = ""
            self._users[uid] = name
        return name

    def group(self, gid: int) -> str:
        name = self._groups.get(gid)
        if name is None:
            try:
                name = _text(grp.getgrgid(gid).gr_name)
            except KeyError:
                name = ""
            self._groups[gid] = name
        return name


def _text(name: str) -> str:
    """A user or group name as trees store it (UTF-8 text; an undecodable one is left out:
    ownership is restored by number anyway)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return ""
    return name


def from_stat(name: str, kind: str, st: os.stat_result, names: Names) -> Node:
    """A node with every field ``lstat`` gives (content, subtree, target filled in later)."""
    node = Node(
        name=name,
        type=kind,
        mode=stat.S_IMODE(st.st_mode),
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        uid=st.st_uid,
        gid=st.st_gid,
        user=names.user(st.st_uid),
        group=names.group(st.st_gid),
    )
    if kind == "file":
        node.size = st.st_size
        node.inode, node.device_id, node.links = st.st_ino, st.st_dev, st.st_nlink
    elif kind in ("chardev", "dev"):
        node.rdev = st.st_rdev
    return node


def read_xattrs(path: str | int) -> list[tuple[str, bytes]]:
    """Every extended attribute of ``path`` (not following symlinks) or of an open fd.

    A file system without xattrs gives none; any other failure raises :class:`OSError` (the
    caller records it: the node is stored without them, and the run says so).
    """
    follow = isinstance(path, int)
    try:
        names = os.listxattr(path, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno in _NO_XATTRS:
            return []
        raise
    out = []
    for attr in names:
        try:
            out.append((attr, os.getxattr(path, attr, follow_symlinks=follow)))
        except OSError as exc:
            if exc.errno == errno.ENODATA:  # removed between list and get
                continue
            raise
    return out


type Report = Callable[[str], None]


def apply(path: str, node: Node, report: Report, *, owner: bool, label: str = "") -> None:
    """Set owner, xattrs, mode and times of the restored ``path`` from ``node``.

    Failures are reported (``report(message)``, naming ``label`` or else ``path``) and do not
    stop the others: the content is already verified and in place, so a file system without
    xattrs, say, must not lose it.
    """
    where = display(label or path)
    if owner and node.uid >= 0:
        try:
            os.lchown(path, node.uid, node.gid)
        except OSError as exc:
            report(f"{where}: cannot restore owner {node.uid}:{node.gid}: {exc.strerror}")
    for attr, value in node.xattrs:
        try:
            os.setxattr(path, attr, value, follow_symlinks=False)
        except OSError as exc:
            report(f"{where}: cannot restore xattr {display(attr)}: {exc.strerror}")
    if node.type != "symlink":
        try:
            os.chmod(path, node.mode)
        except OSError as exc:
            report(f"{where}: cannot restore mode {node.mode:o}: {exc.strerror}")
    try:
        os.utime(path, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=False)
    except OSError as exc:
        report(f"{where}: cannot restore times: {exc.strerror}")


def make_special(path: str, node: Node) -> None:
    """Create a FIFO or device node (mode and owner are applied afterwards by :func:`apply`)."""
    if node.type == "fifo":
        os.mkfifo(path, 0o600)
    elif node.type == "chardev":
        os.mknod(path, 0o600 | stat.S_IFCHR, node.rdev)
    elif node.type == "dev":
        os.mknod(path, 0o600 | stat.S_IFBLK, node.rdev)
    else:  # pragma: no cover - callers pass only these three
        raise ValueError(node.type)
