"""The key ceremony: n departments make one joint key, any t of them decrypt (t-out-of-n).

Protocol (Mouchet, Bertrand, Hubaux, "An Efficient Threshold Access-Structure for RLWE-Based
Multiparty Homomorphic Encryption", eprint 2022/780; Lattigo's ``multiparty`` package). The
platform only relays and aggregates public shares; it never holds a secret.

0. **Plan** (platform): preset, threshold t, parties (name, Shamir point 1..n, SM2 public
   key), a random 32-byte common reference string. The key set id is SM3 of the plan.
1. **Round 1** (each department i, all n needed): a fresh ternary secret s_i; its share of
   the collective public key (CKG: -a*s_i + e_i for the CRS polynomial a), round one of the
   relinearisation key (RKG), its Galois-key shares (GKG, the rotations of the inner sum), and
   the Shamir shares f_i(j) of s_i (a random degree t-1 polynomial with f_i(0) = s_i), each
   sealed to party j in an SM2 envelope signed by i. Everything is signed by i.
2. **Aggregate 1** (platform): pk = sum of CKG shares, the Galois keys, the RKG round-one
   aggregate; each department gets the aggregate and the envelopes addressed to it.
3. **Round 2** (each department): RKG round two; opens its envelopes (senders' signatures
   checked) and sums them with its own f_j(j): S_j = sum_i f_i(j), its Shamir share of the
   joint secret s = sum_i s_i. It then forgets s_i and the RKG ephemeral key.
4. **Finalise** (platform): the relinearisation key; the public key set (plan, pk, rlk, Galois
   keys) is published.

Decryption then needs any t of the n shares S_j (:mod:`crypto.he.decryption`). The setup
itself needs all n parties (a party missing in a round stops the ceremony: nothing is made).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crypto import envelope
from crypto.he import _bridge
from crypto.he.container import Container, canonical, decode, make
from crypto.he.params import info
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import sm3
from tulou.errors import InputError, UsageError, VerificationError

SHARE_TYPE = "application/x-tulou-he-shamir-share"
MAX_PARTIES = 32


@dataclass(frozen=True)
class Party:
    name: str
    point: int
    public_key: SM2PublicKey


@dataclass(frozen=True)
class Plan:
    preset: str
    threshold: int
    parties: tuple[Party, ...]
    crs: bytes
    created: str

    @property
    def id(self) -> str:
        return sm3(canonical(self.describe())).hex()

    def describe(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "threshold": self.threshold,
            "parties": [
                {"name": p.name, "point": p.point, "sm2": p.public_key.to_pem().decode()}
                for p in self.parties
            ],
            "crs": self.crs.hex(),
            "created": self.created,
        }

    def party(self, name: str) -> Party:
        for p in self.parties:
            if p.name == name:
                return p
        raise VerificationError(f"{name!r} is not a party of key set {self.id[:16]}…")

    def trusted(self) -> dict[str, SM2PublicKey]:
        return {p.name: p.public_key for p in self.parties}

    def seed(self, label: str) -> bytes:
        """Domain-separated CRS seed of one protocol."""
        return sm3(self.crs + b"|" + label.encode())

    def container(self) -> Container:
        return make("keyset-plan", self.id, self.preset, [], plan=self.describe())

    @classmethod
    def from_describe(cls, raw: Any) -> Plan:
        try:
            parties = tuple(
                Party(str(p["name"]), int(p["point"]), SM2PublicKey.from_pem(p["sm2"].encode()))
                for p in raw["parties"]
            )
            plan = cls(
                str(raw["preset"]),
                int(raw["threshold"]),
                parties,
                bytes.fromhex(raw["crs"]),
                str(raw["created"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"malformed key set plan ({exc})") from None
        plan.check()
        return plan

    @classmethod
    def from_container(cls, c: Container) -> Plan:
        plan = cls.from_describe(c.header.get("plan"))
        if plan.id != c.keyset:
            raise InputError("key set plan does not match its id")
        return plan

    def check(self) -> None:
        info(self.preset)
        names = [p.name for p in self.parties]
        if not 2 <= len(names) <= MAX_PARTIES or len(set(names)) != len(names):
            raise UsageError(f"a key set has 2..{MAX_PARTIES} distinct parties")
        if [p.point for p in self.parties] != list(range(1, len(names) + 1)):
            raise UsageError("Shamir points are 1..n in party order")
        if not 1 <= self.threshold <= len(names):
            raise UsageError(f"threshold must be in 1..{len(names)}")
        if len(self.crs) != 32:
            raise UsageError("the common reference string is 32 bytes")


def plan(preset: str, threshold: int, parties: list[tuple[str, SM2PublicKey]]) -> Plan:
    made = Plan(
        preset,
        threshold,
        tuple(Party(name, i + 1, pub) for i, (name, pub) in enumerate(parties)),
        secrets.token_bytes(32),
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    made.check()
    return made


# ---- department side ----


@dataclass(frozen=True)
class CeremonyState:
    """What a department keeps between rounds 1 and 2 (secret: wrapped at rest)."""

    keyset: str
    party: str
    sk: bytes
    ephemeral: bytes
    own_share: bytes

    def container(self, preset: str) -> Container:
        return make(
            "keygen-state",
            self.keyset,
            preset,
            [self.sk, self.ephemeral, self.own_share],
            party=self.party,
        )

    @classmethod
    def from_container(cls, c: Container) -> CeremonyState:
        if c.kind != "keygen-state" or len(c.blobs) != 3:
            raise InputError("not a key ceremony state")
        return cls(c.keyset, str(c.header["party"]), *c.blobs)


def round1(p: Plan, me: str, key: SM2PrivateKey) -> tuple[CeremonyState, Container]:
    party = p.party(me)
    if party.public_key != key.public_key():
        raise UsageError(f"this SM2 key is not {me}'s key in the plan")
    pre = p.preset
    sk = _bridge.call("sk_gen", pre, [])[0]
    ckg = _bridge.call("ckg_share", pre, [p.seed("ckg"), sk])[0]
    eph, rkg1 = _bridge.call("rkg_r1", pre, [p.seed("rkg"), sk])
    gkg = _bridge.call("gkg_share", pre, [p.seed("gkg"), sk])
    points = [q.point for q in p.parties]
    shamir = _bridge.call(
        "shamir_shares", pre, [sk, _bridge.u64(p.threshold), _bridge.u64(*points)]
    )
    sealed, own = [], b""
    for q, share in zip(p.parties, shamir, strict=True):
        if q.name == me:
            own = share
            continue
        sealed.append(
            envelope.seal(
                bytes.fromhex(p.id) + share,
                sender=key,
                sender_id=me,
                recipients=[(q.name, q.public_key)],
                content_type=SHARE_TYPE,
            )
        )
    msg = make(
        "keygen-round1",
        p.id,
        pre,
        [ckg, rkg1, _bridge.frame(gkg), *sealed],
        recipients=[q.name for q in p.parties if q.name != me],
    ).signed(me, key)
    return CeremonyState(p.id, me, sk, eph, own), msg


def round2(
    p: Plan, state: CeremonyState, relay: Container, key: SM2PrivateKey
) -> tuple[Container, Container]:
    """RKG round two and the party's Shamir share; returns (round-two message, key share)."""
    if relay.kind != "keygen-relay" or relay.keyset != p.id or state.keyset != p.id:
        raise InputError("relay is not for this key set")
    if relay.header.get("recipient") != state.party or len(relay.blobs) < 1:
        raise InputError(f"relay is not addressed to {state.party}")
    senders = relay.header.get("senders")
    expected = [q.name for q in p.parties if q.name != state.party]
    if senders != expected or len(relay.blobs) != 1 + len(expected):
        raise InputError("relay does not hold one Shamir share from every other party")
    shares = [state.own_share]
    for sender, sealed in zip(expected, relay.blobs[1:], strict=True):
        opened = envelope.open(
            sealed,
            recipient_id=state.party,
            decrypter=key,
            trusted_senders={sender: p.party(sender).public_key},
            replay=None,
        )
        if opened.sender_id != sender or opened.content_type != SHARE_TYPE:
            raise VerificationError(f"the Shamir share from {sender} is not what it claims")
        if opened.payload[:32] != bytes.fromhex(p.id):
            raise VerificationError(f"the Shamir share from {sender} is for another key set")
        shares.append(opened.payload[32:])
    r2 = _bridge.call("rkg_r2", p.preset, [state.ephemeral, state.sk, relay.blobs[0]])[0]
    tsk = _bridge.call("shamir_agg", p.preset, shares)[0]
    me = p.party(state.party)
    share = make(
        "key-share",
        p.id,
        p.preset,
        [tsk],
        party=me.name,
        point=me.point,
        threshold=p.threshold,
        plan=p.describe(),
    )
    msg = make("keygen-round2", p.id, p.preset, [r2]).signed(state.party, key)
    return msg, share


# ---- platform side ----


def _collect(p: Plan, msgs: list[Container], kind: str) -> dict[str, Container]:
    got: dict[str, Container] = {}
    for m in msgs:
        if m.kind != kind or m.keyset != p.id:
            raise InputError(f"a {m.kind} message for another key set in {kind}")
        signer = m.verify(p.trusted())
        if signer in got:
            raise InputError(f"two {kind} messages from {signer}")
        got[signer] = m
    missing = [q.name for q in p.parties if q.name not in got]
    if missing:
        raise InputError(
            f"{kind}: no message from {', '.join(missing)}; the ceremony needs every party "
            "(nothing was created)"
        )
    return got


def aggregate1(p: Plan, msgs: list[Container]) -> tuple[Container, dict[str, Container]]:
    """pk, Galois keys and the RKG aggregate; one relay per department."""
    got = _collect(p, msgs, "keygen-round1")
    order = [got[q.name] for q in p.parties]
    for q, m in zip(p.parties, order, strict=True):
        if m.header.get("recipients") != [r.name for r in p.parties if r.name != q.name]:
            raise InputError(f"round 1 of {q.name} does not address every other party")
        if len(m.blobs) != 3 + len(p.parties) - 1:
            raise InputError(f"round 1 of {q.name} is malformed")
    pre = p.preset
    try:
        pk = _bridge.call("ckg_combine", pre, [p.seed("ckg"), *(m.blobs[0] for m in order)])[0]
        agg1 = _bridge.call("rkg_agg", pre, [m.blobs[1] for m in order])[0]
        gal = _bridge.call("gkg_combine", pre, [p.seed("gkg"), *(m.blobs[2] for m in order)])
    except _bridge.BridgeError as exc:
        raise InputError(f"round 1: {exc}") from None
    relays = {}
    for q in p.parties:
        senders, sealed = [], []
        for r, m in zip(p.parties, order, strict=True):
            if r.name == q.name:
                continue
            senders.append(r.name)
            sealed.append(m.blobs[3 + m.header["recipients"].index(q.name)])
        relays[q.name] = make(
            "keygen-relay", p.id, pre, [agg1, *sealed], recipient=q.name, senders=senders
        )
    interim = make("keygen-interim", p.id, pre, [pk, agg1, _bridge.frame(gal)])
    return interim, relays


def finalise(p: Plan, interim: Container, msgs: list[Container]) -> Container:
    got = _collect(p, msgs, "keygen-round2")
    try:
        agg2 = _bridge.call("rkg_agg", p.preset, [got[q.name].blobs[0] for q in p.parties])[0]
        rlk = _bridge.call("rkg_combine", p.preset, [interim.blobs[1], agg2])[0]
    except _bridge.BridgeError as exc:
        raise InputError(f"round 2: {exc}") from None
    return make(
        "keyset", p.id, p.preset, [interim.blobs[0], rlk, interim.blobs[2]], plan=p.describe()
    )


@dataclass(frozen=True)
class KeySet:
    """The public key set: plan, collective public key, relinearisation and Galois keys."""

    plan: Plan
    public_key: bytes
    relin_key: bytes
    galois_keys: bytes  # a frame

    @property
    def id(self) -> str:
        return self.plan.id

    @property
    def preset(self) -> str:
        return self.plan.preset

    @classmethod
    def from_container(cls, c: Container) -> KeySet:
        if c.kind != "keyset" or len(c.blobs) != 3:
            raise InputError("not a public key set")
        return cls(Plan.from_container(c), *c.blobs)

    @classmethod
    def load(cls, data: bytes) -> KeySet:
        return cls.from_container(decode(data, kind="keyset"))
