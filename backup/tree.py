"""Tree blobs: the serialised form of one directory.

A tree blob's plaintext is canonical JSON ``{"nodes": [node, ...]}`` sorted by name, where a
node is ``{"name", "type": "file"|"dir"|"symlink", "mode", "mtime_ns", "size", "content": [blob
id hex, ...] and "inode" (files; absent in older trees), "subtree": tree id hex (dirs), "target":
str (symlinks)}``. Because a tree
is named by the keyed SM3 of its plaintext, a snapshot's root tree id commits to every file's
content, name and order of chunks: verifying ids top-down verifies the whole snapshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from backup.keys import canonical
from tulou.errors import VerificationError

NODE_TYPES = ("file", "dir", "symlink")


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

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "mode": self.mode,
            "mtime_ns": self.mtime_ns,
            "size": self.size,
        }
        if self.type == "file":
            data["content"] = self.content
            if self.inode:
                data["inode"] = self.inode
        elif self.type == "dir":
            data["subtree"] = self.subtree
        else:
            data["target"] = self.target
        return data


def encode(nodes: list[Node]) -> bytes:
    return canonical({"nodes": [n.to_dict() for n in sorted(nodes, key=lambda n: n.name)]})


def decode(raw: bytes) -> list[Node]:
    try:
        document = json.loads(raw)
        nodes = []
        for item in document["nodes"]:
            node = Node(
                name=str(item["name"]),
                type=str(item["type"]),
                mode=int(item["mode"]),
                mtime_ns=int(item["mtime_ns"]),
                size=int(item["size"]),
                content=[str(c) for c in item.get("content", [])],
                subtree=item.get("subtree"),
                target=item.get("target"),
                inode=int(item.get("inode", 0)),
            )
            if node.type not in NODE_TYPES or "/" in node.name or node.name in ("", ".", ".."):
                raise ValueError(f"bad node {node.name!r}")
            nodes.append(node)
        return nodes
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"a tree blob is malformed: {exc}") from exc
