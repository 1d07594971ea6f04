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
import itertools
import json
import os
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _json_str
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


def sort_names(names: list[str]) -> list[str]:
    """Names in the order of their bytes. Code point order is UTF-8 byte order, except for
    the lone surrogates that stand for undecodable bytes: ASCII-only lists sort as text."""
    if all(n.isascii() for n in names):
        return sorted(names)
    return sorted(names, key=os.fsencode)


def encode(nodes: list[Node]) -> bytes:
    """The canonical JSON of a tree (``canonical({"nodes": [to_dict...], "version": 2})``).

    Files and directories without xattrs or errors, the bulk of every tree, are written by
    :func:`_encode_common` (the same bytes, several times faster than the generic encoder;
    tests/unit/backup/test_tree.py compares the two on generated nodes).
    """
    ordered = nodes if _in_order(nodes) else sorted(nodes, key=sort_key)
    body = ",".join(
        _encode_common(n) if n.type in ("file", "dir") and not n.xattrs and not n.error
        else canonical(n.to_dict()).decode()
        for n in ordered
    )  # fmt: skip
    return ('{"nodes":[' + body + '],"version":2}').encode()


def _in_order(nodes: list[Node]) -> bool:
    keys = [n.name for n in nodes]
    if not all(k.isascii() for k in keys):
        return False
    return all(a < b for a, b in itertools.pairwise(keys))


def _encode_common(n: Node) -> str:
    """``canonical(n.to_dict())`` for a file or directory without xattrs or error."""
    name = n.name
    if name.isascii():
        named = '"name":' + _json_str(name)
    else:
        holder: dict[str, Any] = {}
        _put_name(holder, "name", name)
        ((key, value),) = holder.items()
        named = f'"{key}":{_json_str(value)}'
    user = f',"user":{_json_str(n.user)}' if n.user else ""
    group = f',"group":{_json_str(n.group)}' if n.group else ""
    if n.type == "file":
        content = ",".join(map(_json_str, n.content))
        return (
            f'{{"content":[{content}],"ctime_ns":{n.ctime_ns},"device_id":{n.device_id},'
            f'"gid":{n.gid}{group},"inode":{n.inode},"links":{n.links},"mode":{n.mode},'
            f'"mtime_ns":{n.mtime_ns},{named},"size":{n.size},"type":"file","uid":{n.uid}{user}}}'
        )
    subtree = "null" if n.subtree is None else _json_str(n.subtree)
    return (
        f'{{"ctime_ns":{n.ctime_ns},"gid":{n.gid}{group},"mode":{n.mode},'
        f'"mtime_ns":{n.mtime_ns},{named},"subtree":{subtree},"type":"dir","uid":{n.uid}{user}}}'
    )


def _name(item: dict[str, Any]) -> str:
    name = item.get("name")
    if type(name) is str and name.isascii() and "name_raw" not in item:
        return name  # the common case: no surrogates, one spelling
    return _get_name(item, "name")


def _int(value: object) -> int:
    if type(value) is not int:  # bool is not an int here, nor is a float or a string
        raise ValueError(f"integer expected, not {value!r}")
    return value


def _str(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"string expected, not {value!r}")
    return value


def _node(item: dict[str, Any], version: int) -> Node:
    get = item.get
    kind = _str(item["type"])
    content = get("content")
    if content is None:
        content = []
    elif type(content) is not list or not all(type(c) is str for c in content):
        raise ValueError("content must be a list of blob ids")
    subtree = get("subtree")
    if subtree is not None:
        _str(subtree)
    node = Node(
        _name(item),
        kind,
        _int(item["mode"]),
        _int(item["mtime_ns"]),
        _int(get("size", 0)),
        content,
        subtree,
        None,
        _int(get("inode", 0)),
    )
    if kind == "symlink":
        node.target = _get_name(item, "target")
    if version == 1:
        if kind not in _V1_TYPES:
            raise ValueError(f"node type {kind!r} in a version 1 tree")
        return node
    node.ctime_ns = _int(item["ctime_ns"])
    node.uid, node.gid = _int(item["uid"]), _int(item["gid"])
    node.user, node.group = _str(get("user", "")), _str(get("group", ""))
    node.device_id = _int(get("device_id", 0))
    node.links = _int(get("links", 0))
    node.rdev = _int(get("rdev", 0))
    node.error = _str(get("error", ""))
    if "xattrs" in item:
        node.xattrs = [
            (_get_name(a, "name"), base64.b64decode(_str(a["value"]), validate=True))
            for a in item["xattrs"]
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
            name = node.name
            if node.type not in NODE_TYPES or "/" in name or "\0" in name:
                raise ValueError(f"bad node {name!r}")
            if name in ("", ".", ".."):
                raise ValueError(f"bad node name {name!r}")
            if node.type == "dir" and node.subtree is None:
                raise ValueError(f"directory {name!r} has no subtree")
            nodes.append(node)
        # Distinct str names are distinct bytes (fsdecode is a bijection).
        if len({n.name for n in nodes}) != len(nodes):
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
