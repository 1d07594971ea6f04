"""Tree blobs: the serialised form of one directory.

A tree blob's plaintext is canonical JSON ``{"nodes": [node, ...], "version": 2}``, the nodes
sorted by the bytes of their names. Version 2 (written since issue 23) records what restic's
tree format records; version 1 (no ``version`` key) had only ``name``, ``type`` (file, dir,
symlink), ``mode``, ``mtime_ns``, ``size``, ``content``, ``inode``, ``subtree`` and
``target``, and is still read. The fields, by node type, are in docs/backup.md ("tree").

Names are bytes on POSIX. In memory a name is a ``str`` as Python's ``os`` functions give it
(undecodable bytes as lone surrogates, PEP 383); in the tree it is ``"name"`` when its bytes
are valid UTF-8 and ``"name_raw"`` (base64 of the bytes) otherwise, so every name, newlines
and invalid UTF-8 included, is stored and restored exactly. Symlink targets and xattr names
likewise (``target``/``target_raw``). Exactly one form is valid for any name, so two trees
never spell one name two ways.

Because a tree is named by the keyed SM3 of its plaintext, a snapshot's root tree id commits to
every file's content, name, metadata and order of chunks: verifying ids top-down verifies the
whole snapshot.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from typing import Any

from backup.keys import canonical
from tulou.errors import VerificationError

TREE_VERSION = 2
NODE_TYPES = ("file", "dir", "symlink", "fifo", "chardev", "dev", "socket")
_V1_TYPES = ("file", "dir", "symlink")


@dataclass
class Node:
    name: str
    type: str
    mode: int = 0o644
    mtime_ns: int = 0
    size: int = 0
    content: list[str] = field(default_factory=list)
    subtree: str | None = None
    target: str | None = None
    inode: int = 0  # files only; 0 = unknown (trees written before inodes were recorded)
    # -- version 2 ---------------------------------------------------------------------------
    ctime_ns: int = 0
    uid: int = -1  # -1: not recorded (version 1 trees)
    gid: int = -1
    user: str = ""
    group: str = ""
    device_id: int = 0  # st_dev of a file: with inode, identifies hard links
    links: int = 0  # st_nlink of a file (0: not recorded)
    rdev: int = 0  # device number of a chardev / dev node
    xattrs: list[tuple[str, bytes]] = field(default_factory=list)
    #: What went wrong while reading this entry (e.g. it changed while being read); the node
    #: holds what was read.
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "mode": self.mode,
            "mtime_ns": self.mtime_ns,
            "ctime_ns": self.ctime_ns,
            "uid": self.uid,
            "gid": self.gid,
        }
        _put_name(data, "name", self.name)
        if self.user:
            data["user"] = self.user
        if self.group:
            data["group"] = self.group
        if self.xattrs:
            attrs = []
            for name, value in sorted(self.xattrs, key=lambda a: os.fsencode(a[0])):
                attr: dict[str, Any] = {"value": base64.b64encode(value).decode("ascii")}
                _put_name(attr, "name", name)
                attrs.append(attr)
            data["xattrs"] = attrs
        if self.error:
            data["error"] = self.error
        if self.type == "file":
            data["size"] = self.size
            data["content"] = self.content
            data["inode"] = self.inode
            data["device_id"] = self.device_id
            data["links"] = self.links
        elif self.type == "dir":
            data["subtree"] = self.subtree
        elif self.type == "symlink":
            _put_name(data, "target", self.target or "")
        elif self.type in ("chardev", "dev"):
            data["rdev"] = self.rdev
        return data


def _put_name(data: dict[str, Any], key: str, name: str) -> None:
    raw = os.fsencode(name)
    try:
        data[key] = raw.decode("utf-8")
    except UnicodeDecodeError:
        data[key + "_raw"] = base64.b64encode(raw).decode("ascii")


def _get_name(item: dict[str, Any], key: str) -> str:
    """The name stored under ``key`` or ``key_raw``; exactly one must be present and canonical."""
    if (key in item) == (key + "_raw" in item):
        raise ValueError(f"exactly one of {key!r} and {key + '_raw'!r} expected")
    if key in item:
        text = item[key]
        if not isinstance(text, str):
            raise ValueError(f"{key} is not a string")
        raw = text.encode("utf-8")  # lone surrogates (JSON "\udcxx" escapes) raise here
    else:
        try:
            raw = base64.b64decode(str(item[key + "_raw"]), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"{key}_raw is not base64") from exc
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raise ValueError(f"{key}_raw holds valid UTF-8: it must be stored as {key!r}")
    return os.fsdecode(raw)


def sort_key(node: Node) -> bytes:
    return os.fsencode(node.name)


def encode(nodes: list[Node]) -> bytes:
    return canonical(
        {"nodes": [n.to_dict() for n in sorted(nodes, key=sort_key)], "version": TREE_VERSION}
    )


def _node(item: dict[str, Any], version: int) -> Node:
    node = Node(
        name=_get_name(item, "name"),
        type=str(item["type"]),
        mode=int(item["mode"]),
        mtime_ns=int(item["mtime_ns"]),
        size=int(item.get("size", 0)),
        content=[str(c) for c in item.get("content", [])],
        subtree=item.get("subtree"),
        inode=int(item.get("inode", 0)),
    )
    if node.type == "symlink":
        node.target = _get_name(item, "target")
    if version == 1:
        if node.type not in _V1_TYPES:
            raise ValueError(f"node type {node.type!r} in a version 1 tree")
        return node
    node.ctime_ns = int(item["ctime_ns"])
    node.uid, node.gid = int(item["uid"]), int(item["gid"])
    node.user, node.group = str(item.get("user", "")), str(item.get("group", ""))
    node.device_id = int(item.get("device_id", 0))
    node.links = int(item.get("links", 0))
    node.rdev = int(item.get("rdev", 0))
    node.error = str(item.get("error", ""))
    node.xattrs = [
        (_get_name(a, "name"), base64.b64decode(str(a["value"]), validate=True))
        for a in item.get("xattrs", [])
    ]
    return node


def decode(raw: bytes) -> list[Node]:
    try:
        document = json.loads(raw)
        version = document.get("version", 1)
        if version not in (1, TREE_VERSION):
            raise ValueError(f"unsupported tree version {version!r}")
        nodes = []
        for item in document["nodes"]:
            node = _node(item, version)
            name = os.fsencode(node.name)
            if node.type not in NODE_TYPES or b"/" in name or b"\0" in name:
                raise ValueError(f"bad node {node.name!r}")
            if name in (b"", b".", b".."):
                raise ValueError(f"bad node name {node.name!r}")
            if node.type == "dir" and not isinstance(node.subtree, str):
                raise ValueError(f"directory {node.name!r} has no subtree")
            nodes.append(node)
        names = [sort_key(n) for n in nodes]
        if len(set(names)) != len(names):
            raise ValueError("two nodes share a name")
        return nodes
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise VerificationError(f"a tree blob is malformed: {exc}") from exc


def display(name: str) -> str:
    """A name or path for messages: undecodable bytes as ``\\xNN``, control characters escaped.

    Messages are printed and JSON-encoded; a lone surrogate would make either fail, and a
    newline in a name would make a one-line-per-entry report ambiguous.
    """
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
