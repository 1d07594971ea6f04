"""The audit hash chain on its own: every kind of tampering is detected and located."""

from __future__ import annotations

import dataclasses

import pytest

from crypto.sm3 import sm3
from soc.audit import GENESIS, Link, canonical, link_hash, verify_links


def chain(n: int) -> list[Link]:
    links, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = {
            "seq": seq,
            "at": f"2026-01-01T00:00:{seq:02d}+00:00",
            "actor": "ana",
            "action": "alert.transition",
            "target": f"alert:{seq}",
            "detail": canonical({"to": "resolved"}),
        }
        digest = link_hash(sm3, prev, fields)
        links.append(Link(**fields, prev_hash=prev, hash=digest))
        prev = digest
    return links


def kinds(verdict):
    return [(p.seq, p.kind) for p in verdict.problems]


def test_an_intact_chain_verifies():
    links = chain(6)
    verdict = verify_links(links, sm3, expected_head=(6, links[-1].hash))
    assert verdict.ok and verdict.checked == 6 and verdict.head_seq == 6


def test_the_hash_is_sm3_over_prev_and_canonical_json():
    link = chain(1)[0]
    body = canonical([1, link.at, "ana", "alert.transition", "alert:1", link.detail])
    assert link.hash == sm3(GENESIS.encode() + body.encode()).hex()


@pytest.mark.parametrize("field", ["actor", "action", "target", "detail", "at"])
def test_an_edit_is_located(field):
    links = chain(6)
    links[3] = dataclasses.replace(links[3], **{field: "mallory"})
    assert kinds(verify_links(links, sm3)) == [(4, "edited")]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link():
    links = chain(6)
    forged = dataclasses.replace(links[2], actor="mallory")
    forged = dataclasses.replace(forged, hash=link_hash(sm3, forged.prev_hash, forged))
    links[2] = forged
    assert kinds(verify_links(links, sm3)) == [(4, "relinked")]


def test_a_deletion_is_located():
    links = chain(6)
    del links[2]
    assert kinds(verify_links(links, sm3)) == [(4, "gap"), (4, "relinked")]


def test_a_reordering_is_located():
    links = chain(6)
    links[1], links[2] = links[2], links[1]
    problems = kinds(verify_links(links, sm3))
    assert problems[0] == (3, "gap") and (3, "relinked") in problems and (2, "relinked") in problems


def test_renumbered_records_after_a_deletion_do_not_verify():
    links = chain(6)
    del links[2]
    links = [dataclasses.replace(link, seq=i + 1) for i, link in enumerate(links)]
    problems = kinds(verify_links(links, sm3))
    assert problems[0] == (3, "relinked") and (3, "edited") in problems


def test_truncation_is_detected_against_the_head():
    links = chain(6)
    head = (6, links[-1].hash)
    assert kinds(verify_links(links[:4], sm3, expected_head=head)) == [(4, "truncated")]
