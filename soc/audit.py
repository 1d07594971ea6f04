"""The tamper-evident audit trail: every analyst action is a link in an SM3 hash chain.

Link ``n`` stores ``hash_n = H(hash_{n-1} || canonical(n, at, actor, action, target, detail))``
where ``canonical`` is compact, key-sorted UTF-8 JSON and ``hash_0`` is 64 zeros. ``H`` is SM3
(GB/T 32905) from :mod:`crypto.sm3`; the chain code takes the hash as a parameter so it can be
tested on its own. The single-row ``audit_head`` table holds the newest (seq, hash) and is
locked while appending, so concurrent writers append in order.

:func:`verify` walks the chain and reports *where* it breaks:

- ``edited``    a record's content no longer hashes to its stored hash;
- ``gap``       sequence numbers jump (records were deleted);
- ``relinked``  a record's ``prev_hash`` is not the hash of the record before it (deletion,
  insertion or reordering);
- ``truncated`` the chain ends before the head recorded in ``audit_head`` or before an
  external anchor (``seq:hash``) the operator kept elsewhere (an attacker with write access to
  the database can rewrite everything, head included: the anchor is the defence against that).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.models import AuditHead, AuditRecord
from tulou.errors import UnavailableError

type HashFunction = Callable[[bytes], bytes]

GENESIS = "0" * 64


def sm3_hash() -> HashFunction:
    """SM3 from the crypto package (the production hash of the chain)."""
    try:
        from crypto.sm3 import sm3  # noqa: PLC0415 - resolved when the service starts
    except ImportError as exc:  # pragma: no cover - crypto.sm3 is part of the platform
        raise UnavailableError("crypto.sm3 is not available: the audit chain needs SM3") from exc
    return sm3


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Link:
    """The hashed fields of one record (plain data, independent of the database)."""

    seq: int
    at: str
    actor: str
    action: str
    target: str
    detail: str
    prev_hash: str
    hash: str


def link_hash(hash_fn: HashFunction, prev_hash: str, link: Link | dict[str, Any]) -> str:
    if isinstance(link, Link):
        body = [link.seq, link.at, link.actor, link.action, link.target, link.detail]
    else:
        body = [link[k] for k in ("seq", "at", "actor", "action", "target", "detail")]
    material = prev_hash.encode("ascii") + canonical(body).encode("utf-8")
    return hash_fn(material).hex()


def append(
    session: Session,
    hash_fn: HashFunction,
    *,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record in the caller's transaction (it commits or rolls back with it)."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    fields = {
        "seq": head.seq + 1,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": canonical(detail or {}),
    }
    digest = link_hash(hash_fn, head.hash, fields)
    record = AuditRecord(**fields, prev_hash=head.hash, hash=digest)
    session.add(record)
    head.seq = record.seq
    head.hash = digest
    return record


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: str
    message: str


@dataclass(slots=True)
class Verdict:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "problems": [
                {"seq": p.seq, "kind": p.kind, "message": p.message} for p in self.problems
            ],
        }


def verify_links(
    links: Iterable[Link],
    hash_fn: HashFunction,
    *,
    expected_head: tuple[int, str] | None = None,
) -> Verdict:
    """Check a chain given in ascending ``seq`` order; every break is reported, in order."""
    verdict = Verdict()
    prev_seq, prev_hash = 0, GENESIS
    for link in links:
        verdict.checked += 1
        if link.seq != prev_seq + 1:
            verdict.problems.append(
                Problem(
                    link.seq,
                    "gap",
                    f"record {link.seq} follows record {prev_seq}: "
                    f"records {prev_seq + 1}..{link.seq - 1} are missing",
                )
            )
        if link.prev_hash != prev_hash:
            verdict.problems.append(
                Problem(
                    link.seq,
                    "relinked",
                    f"record {link.seq} does not link to the record before it "
                    f"(deleted, inserted or reordered records)",
                )
            )
        if link_hash(hash_fn, link.prev_hash, link) != link.hash:
            verdict.problems.append(
                Problem(link.seq, "edited", f"record {link.seq} was changed after it was written")
            )
        prev_seq, prev_hash = link.seq, link.hash
    verdict.head_seq, verdict.head_hash = prev_seq, prev_hash
    if expected_head is not None:
        seq, digest = expected_head
        if prev_seq < seq:
            verdict.problems.append(
                Problem(
                    prev_seq,
                    "truncated",
                    f"the chain ends at record {prev_seq} but the head is record {seq}",
                )
            )
        elif prev_seq == seq and prev_hash != digest:
            verdict.problems.append(
                Problem(seq, "edited", f"record {seq} does not match the recorded head hash")
            )
    return verdict


def verify(
    session: Session,
    hash_fn: HashFunction,
    *,
    anchor: tuple[int, str] | None = None,
) -> Verdict:
    """Verify the stored chain against its head row, then against ``anchor`` if given."""
    rows = session.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars()
    links = (
        Link(r.seq, r.at, r.actor, r.action, r.target, r.detail, r.prev_hash, r.hash) for r in rows
    )
    head = session.get(AuditHead, 1)
    verdict = verify_links(links, hash_fn, expected_head=(head.seq, head.hash) if head else None)
    if anchor is not None:
        seq, digest = anchor
        walked = verify_links(_links_upto(session, seq), hash_fn)
        if walked.head_seq != seq or walked.head_hash != digest:
            verdict.problems.append(
                Problem(seq, "truncated", f"record {seq} does not match the external anchor")
            )
    return verdict


def _links_upto(session: Session, seq: int) -> Iterable[Link]:
    rows = session.execute(
        select(AuditRecord).where(AuditRecord.seq <= seq).order_by(AuditRecord.seq)
    ).scalars()
    for r in rows:
        yield Link(r.seq, r.at, r.actor, r.action, r.target, r.detail, r.prev_hash, r.hash)
