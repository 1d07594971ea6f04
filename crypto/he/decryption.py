"""Threshold decryption: t partial decryptions of an announced active set, then combination.

1. **Request** (platform): for a result it names an *active set* of exactly t parties of the
   key set and re-randomises every output ciphertext (adds a fresh encryption of zero), so a
   retry after a drop-out never asks anyone to decrypt the same ciphertext twice.
2. **Share** (each active department, with its own key share, in its own department): the
   Lagrange coefficient of its Shamir point for the active set turns its t-out-of-n share
   S_j into an additive share of the joint secret (Combiner, eprint 2022/780); its partial
   decryption is c1 * lambda_j * S_j + e_j with flooding noise e_j (sigma = 2^30) that hides
   the key share. The share is signed; the department's journal refuses a ciphertext it has
   already decrypted for.
3. **Combine** (anyone holding the request and the t shares; normally the platform): sums
   the shares, decrypts and decodes. Every slot of an output holds the same aggregate, so
   slots that disagree mean the noise overflowed: refused. A ciphertext under another key
   (relabelled past the key-set id check) or a bad share decrypts to a uniformly random
   value, caught with high probability by the plausibility check of the counts
   (0 <= count <= ciphertexts x slots; for BGV-n14 a random value passes with p < 2^-20 per
   group): refused, never released.

With fewer than t shares the combination is refused; done anyway (as the tests do), the sum
of t-1 shares leaves a uniformly random-looking polynomial: decryption yields noise.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Sequence
from pathlib import Path

from crypto.he import _bridge
from crypto.he.container import Container, make
from crypto.he.keygen import KeySet
from crypto.he.params import ckks_error_bound, info
from crypto.sm2 import SM2PrivateKey
from tulou.errors import InputError, UsageError, VerificationError


def request(keyset: KeySet, result: Container, active: Sequence[str]) -> Container:
    if result.kind != "result" or result.keyset != keyset.id:
        raise InputError("not a result under this key set")
    names = [p.name for p in keyset.plan.parties]
    if len(set(active)) != len(active) or any(a not in names for a in active):
        raise UsageError(
            f"the active set names distinct parties of the key set ({', '.join(names)})"
        )
    if len(active) != keyset.plan.threshold:
        raise UsageError(f"the active set has exactly t = {keyset.plan.threshold} parties")
    try:
        fresh = [
            _bridge.call("rerandomize", keyset.preset, [keyset.public_key, ct])[0]
            for ct in result.blobs
        ]
    except _bridge.BridgeError as exc:
        raise InputError(f"result ciphertext: {exc}") from None
    order = sorted(active, key=names.index)
    return make(
        "decrypt-request",
        keyset.id,
        keyset.preset,
        fresh,
        request=secrets.token_hex(16),
        active=order,
        result=result.digest(),
        statistic=result.header.get("statistic"),
        groups=result.header.get("groups"),
        outputs=result.header.get("outputs"),
        inputs=result.header.get("inputs"),
    )


class Journal:
    """The ciphertexts a department has decrypted for (one SM3 digest per line, 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def seen(self) -> set[str]:
        try:
            return set(self.path.read_text().split())
        except FileNotFoundError:
            return set()

    def add(self, digests: Sequence[str]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, "".join(d + "\n" for d in digests).encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def share(
    req: Container,
    keyshare: Container,
    key: SM2PrivateKey,
    *,
    journal: Journal | None = None,
) -> Container:
    """This department's signed partial decryption of every ciphertext of ``req``."""
    from crypto.sm3 import sm3  # noqa: PLC0415

    if req.kind != "decrypt-request" or keyshare.kind != "key-share":
        raise InputError("expected a decryption request and a key share")
    if req.keyset != keyshare.keyset:
        raise InputError("the request is for another key set than this key share")
    party, point = str(keyshare.header["party"]), int(keyshare.header["point"])
    t = int(keyshare.header["threshold"])
    plan = keyshare.header["plan"]
    points = {p["name"]: int(p["point"]) for p in plan["parties"]}
    active = req.header.get("active")
    if not isinstance(active, list) or party not in active:
        raise UsageError(f"{party} is not in the request's active set")
    if len(active) != t or any(a not in points for a in active):
        raise InputError("the request's active set is not t parties of the key set")
    digests = [sm3(ct).hex() for ct in req.blobs]
    if journal is not None and journal.seen().intersection(digests):
        raise VerificationError(
            "this department already decrypted for one of these ciphertexts (a re-request "
            "must re-randomise them)"
        )
    args = [
        keyshare.blobs[0],
        _bridge.u64(t),
        _bridge.u64(point),
        _bridge.u64(*(points[a] for a in active)),
        *req.blobs,
    ]
    try:
        shares = _bridge.call("decrypt_share", req.header["preset"], args)
    except _bridge.BridgeError as exc:
        raise InputError(f"cannot decrypt: {exc}") from None
    if journal is not None:
        journal.add(digests)
    return make(
        "decrypt-share",
        req.keyset,
        req.header["preset"],
        shares,
        request=req.header["request"],
        active=active,
        ciphertexts=digests,
    ).signed(party, key)


def combine(keyset: KeySet, req: Container, shares: Sequence[Container]) -> list[float | int]:
    """Decrypt every output of ``req`` from exactly t valid shares; one value per output."""
    from crypto.sm3 import sm3  # noqa: PLC0415

    t = keyset.plan.threshold
    active = list(req.header.get("active") or [])
    got: dict[str, Container] = {}
    digests = [sm3(ct).hex() for ct in req.blobs]
    for s in shares:
        if s.kind != "decrypt-share" or s.keyset != keyset.id:
            raise InputError("a decryption share for another key set")
        party = s.verify(keyset.plan.trusted())  # a party outside the key set is refused here
        if party not in active:
            raise VerificationError(f"{party} is not in the request's active set")
        if (
            s.header.get("request") != req.header.get("request")
            or s.header.get("ciphertexts") != digests
        ):
            raise InputError(f"the share of {party} is for another request")
        if len(s.blobs) != len(req.blobs):
            raise InputError(f"the share of {party} does not cover every output")
        if party in got:
            raise InputError(f"two shares from {party}")
        got[party] = s
    if len(got) < t:
        missing = [a for a in active if a not in got]
        raise InputError(
            f"too few partial decryptions: {len(got)} of t = {t} (missing: {', '.join(missing)}); "
            "nothing released — ask again with another active set"
        )
    preset = info(keyset.preset)
    outputs = list(req.header.get("outputs") or [])
    values: list[float | int] = []
    for i, ct in enumerate(req.blobs):
        try:
            raw = _bridge.call(
                "decrypt_combine", keyset.preset, [ct, *(got[a].blobs[i] for a in active)]
            )[0]
        except _bridge.BridgeError as exc:
            raise InputError(f"cannot combine: {exc}") from None
        bound = ckks_error_bound(preset, t) if preset.scheme == "ckks" else 0.0
        value = _check_slots(raw, preset.scheme, bound)
        limit = outputs[i].get("max") if i < len(outputs) else None
        if limit is not None and not -bound <= value <= int(limit) + bound:
            raise VerificationError(
                f"implausible count {outputs[i].get('group')}/{outputs[i].get('name')} (a "
                "ciphertext under another key, or a bad share): nothing released"
            )
        values.append(value)
    return values


def _check_slots(raw: bytes, scheme: str, bound: float) -> float | int:
    count = len(raw) // 8
    if scheme == "bgv":
        ints = struct.unpack(f"<{count}q", raw)
        if any(v != ints[0] for v in ints):
            raise VerificationError("decryption failed (noise overflow): nothing released")
        return int(ints[0])
    reals = struct.unpack(f"<{count}d", raw)
    lo, hi = min(reals), max(reals)
    if hi - lo > 2 * bound:
        raise VerificationError("decryption failed (noise overflow): nothing released")
    return float(sum(reals) / count)
