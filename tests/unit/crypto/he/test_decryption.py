"""Threshold decryption: any t of n decrypt exactly; t-1 cannot; bad shares are refused."""

from __future__ import annotations

import random  # noqa: TID251 - reproducible test data, nothing secret
import struct

import pytest

from crypto.he import _bridge, aggregate, columns, decryption
from crypto.he.container import decode
from crypto.sm2 import SM2PrivateKey
from tulou.errors import InputError, UsageError, VerificationError

from .conftest import NAMES, World, ceremony


def _result(world: World, data: dict[str, list[int]], statistic: str = "sum"):
    ups = [
        columns.upload(world.keyset, n, world.keys[n], [("all", v) for v in vals], groups=["all"])
        for n, vals in data.items()
    ]
    return aggregate.aggregate(world.keyset, ups, statistic=statistic, groups=["all"])


def _decrypt(world: World, result, active):
    req = decryption.request(world.keyset, result, active)
    shares = [decryption.share(req, world.shares[a], world.keys[a]) for a in active]
    return decryption.combine(world.keyset, req, shares)


def test_every_pair_of_three_decrypts_the_exact_sum(bgv_world: World) -> None:
    rng = random.Random(7)
    data = {n: [rng.randint(-3, 3) for _ in range(rng.randint(1, 9000))] for n in NAMES}
    result = _result(bgv_world, data)
    expected = [sum(len(v) for v in data.values()), sum(sum(v) for v in data.values())]
    for active in (["civil", "health"], ["civil", "hr"], ["health", "hr"]):
        assert _decrypt(bgv_world, result, active) == expected


def test_t_minus_one_shares_do_not_decrypt(bgv_world: World) -> None:
    data = {"civil": [5] * 100, "health": [7] * 50}
    result = _result(bgv_world, data)
    req = decryption.request(bgv_world.keyset, result, ["civil", "health"])
    one = decryption.share(req, bgv_world.shares["civil"], bgv_world.keys["civil"])
    with pytest.raises(InputError, match="too few partial decryptions: 1 of t = 2"):
        decryption.combine(bgv_world.keyset, req, [one])
    # Forced past the check: one share's Lagrange-weighted key alone yields noise, not the sum.
    raw = _bridge.call("decrypt_combine", "bgv-n13", [req.blobs[1], one.blobs[1]])[0]
    slots = struct.unpack(f"<{len(raw) // 8}q", raw)
    assert len(set(slots)) > len(slots) // 2
    assert slots.count(850) < 3
    # And the holder of one share cannot form t shares by itself: its share for another
    # party's point is refused, because it is signed by it and not that party.
    forged = decryption.share(req, bgv_world.shares["civil"], bgv_world.keys["civil"])
    with pytest.raises(InputError, match="two shares from civil"):
        decryption.combine(bgv_world.keyset, req, [one, forged])


def test_a_share_from_outside_the_key_set_is_refused(bgv_world: World) -> None:
    result = _result(bgv_world, {"civil": [1, 2, 3]})
    req = decryption.request(bgv_world.keyset, result, ["civil", "health"])
    good = decryption.share(req, bgv_world.shares["civil"], bgv_world.keys["civil"])
    outsider = decryption.share(req, bgv_world.shares["health"], bgv_world.keys["health"])
    intruder = SM2PrivateKey.generate()
    forged = type(outsider)(dict(outsider.header), outsider.blobs).signed("tax", intruder)
    with pytest.raises(VerificationError, match="'tax' is not a party"):
        decryption.combine(bgv_world.keyset, req, [good, forged])
    resigned = type(outsider)(dict(outsider.header), outsider.blobs).signed("health", intruder)
    with pytest.raises(VerificationError):
        decryption.combine(bgv_world.keyset, req, [good, resigned])


def test_a_party_outside_the_active_set_cannot_share(bgv_world: World) -> None:
    result = _result(bgv_world, {"civil": [1]})
    req = decryption.request(bgv_world.keyset, result, ["civil", "health"])
    with pytest.raises(UsageError, match="not in the request's active set"):
        decryption.share(req, bgv_world.shares["hr"], bgv_world.keys["hr"])


def test_drop_out_then_retry_with_another_active_set(bgv_world: World, tmp_path) -> None:
    result = _result(bgv_world, {"civil": [4] * 10, "hr": [6] * 10})
    journal = {n: decryption.Journal(tmp_path / f"{n}.journal") for n in NAMES}
    first = decryption.request(bgv_world.keyset, result, ["civil", "health"])
    civil = decryption.share(
        first, bgv_world.shares["civil"], bgv_world.keys["civil"], journal=journal["civil"]
    )
    with pytest.raises(InputError, match="missing: health"):
        decryption.combine(bgv_world.keyset, first, [civil])  # health dropped out
    with pytest.raises(VerificationError, match="already decrypted"):
        decryption.share(
            first, bgv_world.shares["civil"], bgv_world.keys["civil"], journal=journal["civil"]
        )
    second = decryption.request(bgv_world.keyset, result, ["civil", "hr"])
    assert second.blobs != first.blobs  # re-randomised
    shares = [
        decryption.share(second, bgv_world.shares[a], bgv_world.keys[a], journal=journal[a])
        for a in ("civil", "hr")
    ]
    assert decryption.combine(bgv_world.keyset, second, shares) == [20, 100]
    with pytest.raises(InputError, match="another request"):
        decryption.combine(bgv_world.keyset, second, [civil, shares[1]])


def test_a_ciphertext_under_another_key_is_refused(bgv_world: World) -> None:
    other = ceremony("bgv-n13", names=("civil", "health"))
    up = columns.upload(other.keyset, "civil", other.keys["civil"], [("all", 3)], groups=["all"])
    with pytest.raises(InputError, match="another key"):
        aggregate.aggregate(bgv_world.keyset, [up], statistic="sum", groups=["all"])
    # Relabelled as ours and re-signed by a real party (a malicious insider): each group's
    # count decrypts to a random value mod 65537, implausible for 1 ciphertext x 8192 slots
    # with p ~ 7/8 per group; twelve groups pass by chance with p = (1/8)^12 < 1e-10.
    groups = [f"g{i}" for i in range(12)]
    foreign = columns.upload(
        other.keyset, "civil", other.keys["civil"], [(g, 3) for g in groups], groups=groups
    )
    ours = columns.upload(
        bgv_world.keyset, "civil", bgv_world.keys["civil"], [(g, 3) for g in groups], groups=groups
    )
    spliced = type(ours)(dict(ours.header), foreign.blobs).signed("civil", bgv_world.keys["civil"])
    result = aggregate.aggregate(bgv_world.keyset, [spliced], statistic="sum", groups=groups)
    with pytest.raises(VerificationError, match="implausible count"):
        _decrypt(bgv_world, result, ["civil", "health"])


def test_wrong_parameters_and_malformed_uploads(bgv_world: World, ckks_world: World) -> None:
    up = columns.upload(
        ckks_world.keyset, "civil", ckks_world.keys["civil"], [("all", 1.5)], groups=["all"]
    )
    with pytest.raises(InputError, match="another key or other parameters"):
        aggregate.aggregate(bgv_world.keyset, [up], statistic="sum", groups=["all"])
    data = up.encode()
    for bad in (b"", b"TLHE", data[:-1], data[:20], b"XXXX" + data[4:], data + b"\0"):
        with pytest.raises(InputError):
            decode(bad)
    with pytest.raises(InputError, match="over the limit"):
        decode(data, max_bytes=len(data) - 1)
    garbage = type(up)(dict(up.header), [b"\1" * 100]).signed("civil", ckks_world.keys["civil"])
    with pytest.raises((InputError, UsageError)):
        aggregate.aggregate(ckks_world.keyset, [garbage], statistic="sum", groups=["all"])
