"""Tree blobs: names are bytes (stored and read back exactly), one spelling per name, version 1
trees still read, forged trees refused."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup import tree
from backup.keys import canonical
from backup.tree import Node
from tulou.errors import VerificationError

#: Any file name a POSIX file system accepts: bytes without "/" and NUL, not "." or "..".
names = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)


@given(st.lists(names, min_size=1, max_size=8, unique=True), names)
def test_any_byte_name_and_link_target_round_trip_exactly(
    raw_names: list[bytes], link: bytes
) -> None:
    nodes = [Node(name=os.fsdecode(n), type="file", uid=0, gid=0) for n in raw_names]
    nodes.append(Node(name="\udcff-link", type="symlink", target=os.fsdecode(link), uid=0, gid=0))
    decoded = tree.decode(tree.encode(nodes))
    assert sorted(os.fsencode(n.name) for n in decoded) == sorted([*raw_names, b"\xff-link"])
    assert [os.fsencode(n.name) for n in decoded] == sorted(os.fsencode(n.name) for n in decoded)
    assert os.fsencode(next(n for n in decoded if n.type == "symlink").target or "") == link


def test_names_are_stored_as_text_when_utf8_and_as_base64_otherwise() -> None:
    nodes = [
        Node(name="报告\n2026.txt", type="file", uid=0, gid=0),
        Node(name=os.fsdecode(b"caf\xe9.txt"), type="file", uid=0, gid=0),
    ]
    document = json.loads(tree.encode(nodes))
    assert document["version"] == 2
    stored = {next(k for k in n if k.startswith("name")): n for n in document["nodes"]}
    assert stored["name"]["name"] == "报告\n2026.txt"
    assert base64.b64decode(stored["name_raw"]["name_raw"]) == b"caf\xe9.txt"


def _document(*nodes: dict[str, object], version: int | None = 2) -> bytes:
    base = {"type": "file", "mode": 420, "mtime_ns": 1, "ctime_ns": 1, "uid": 0, "gid": 0}
    doc: dict[str, object] = {"nodes": [{**base, **n} for n in nodes]}
    if version is not None:
        doc["version"] = version
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "node",
    [
        {"name": "a/b"},
        {"name": ".."},
        {"name": "."},
        {"name": ""},
        {"name": "nul\u0000"},
        {"name_raw": base64.b64encode(b"ok.txt").decode()},  # valid UTF-8 must be "name"
        {"name_raw": base64.b64encode(b"\xff/x").decode()},
        {"name": "x", "name_raw": base64.b64encode(b"\xff").decode()},
        {"type": "door", "name": "x"},
        {"type": "dir", "name": "x"},  # a directory without a subtree
    ],
)
def test_forged_nodes_are_refused(node: dict[str, object]) -> None:
    with pytest.raises(VerificationError):
        tree.decode(_document(node))


def test_a_lone_surrogate_in_a_text_name_is_refused() -> None:
    # JSON can spell a lone surrogate; it is no UTF-8 name, and it would alias the byte 0xff.
    raw = _document({"name": "x"}).replace(b'"x"', b'"\\udcff"')
    with pytest.raises(VerificationError):
        tree.decode(raw)


def test_two_nodes_with_one_name_are_refused() -> None:
    with pytest.raises(VerificationError, match="share a name"):
        tree.decode(_document({"name": "x"}, {"name": "x", "type": "fifo"}))


def test_unknown_tree_version_is_refused() -> None:
    with pytest.raises(VerificationError, match="version"):
        tree.decode(_document({"name": "x"}, version=3))


def test_version_1_trees_are_read() -> None:
    raw = json.dumps(
        {
            "nodes": [
                {
                    "name": "a",
                    "type": "file",
                    "mode": 420,
                    "mtime_ns": 5,
                    "size": 3,
                    "content": ["ab" * 32],
                    "inode": 7,
                },
                {
                    "name": "l",
                    "type": "symlink",
                    "mode": 511,
                    "mtime_ns": 5,
                    "size": 0,
                    "target": "a",
                },
            ]
        }
    ).encode()
    a, link = tree.decode(raw)
    assert (a.size, a.content, a.inode, a.uid, a.links) == (3, ["ab" * 32], 7, -1, 0)
    assert link.target == "a"
    with pytest.raises(VerificationError):  # version 1 had no FIFOs
        tree.decode(_document({"name": "f", "type": "fifo", "size": 0}, version=None))


def test_display_never_fails_and_escapes_what_would_break_a_line() -> None:
    assert tree.display(os.fsdecode(b"a\xffb")) == "a\\xffb"
    assert tree.display("two\nlines") == "two\\nlines"
    assert tree.display("报告.txt") == "报告.txt"
    json.dumps(tree.display(os.fsdecode(b"\xfe\xff"))).encode("utf-8")


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_common_nodes = st.builds(
    Node,
    name=names.map(os.fsdecode),
    type=st.sampled_from(["file", "dir"]),
    mode=st.integers(0, 0o7777),
    mtime_ns=st.integers(-(2**62), 2**62),
    size=st.integers(0, 2**50),
    content=st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), max_size=4),
    subtree=st.one_of(st.none(), st.text("0123456789abcdef", min_size=64, max_size=64)),
    inode=st.integers(0, 2**63),
    ctime_ns=st.integers(0, 2**62),
    uid=st.integers(-1, 2**32),
    gid=st.integers(-1, 2**32),
    user=_text,
    group=_text,
    device_id=st.integers(0, 2**63),
    links=st.integers(0, 2**31),
)
_other_nodes = st.builds(
    Node,
    name=names.map(os.fsdecode),
    type=st.sampled_from(["symlink", "fifo", "chardev", "dev", "socket", "file"]),
    target=names.map(os.fsdecode),
    rdev=st.integers(0, 2**40),
    uid=st.integers(0, 70000),
    gid=st.integers(0, 70000),
    xattrs=st.lists(st.tuples(names.map(os.fsdecode), st.binary(max_size=20)), max_size=2),
    error=_text,
)


@given(st.lists(st.one_of(_common_nodes, _other_nodes), max_size=8, unique_by=lambda n: n.name))
def test_the_fast_encoder_writes_exactly_the_canonical_json(nodes: list[Node]) -> None:
    """tree.encode's fast path against the reference: canonical JSON of to_dict, sorted."""
    reference = canonical(
        {"nodes": [n.to_dict() for n in sorted(nodes, key=tree.sort_key)], "version": 2}
    )
    assert tree.encode(nodes) == reference
    assert tree.encode(list(reversed(nodes))) == reference


@given(st.lists(names, max_size=10, unique=True))
def test_names_sort_by_their_bytes(raw: list[bytes]) -> None:
    assert [os.fsencode(n) for n in tree.sort_names([os.fsdecode(b) for b in raw])] == sorted(raw)
