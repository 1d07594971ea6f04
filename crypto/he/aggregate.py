"""Platform side: statistics over the departments' encrypted uploads, without any key.

Every output is one ciphertext whose every slot holds the aggregate (sum over all
ciphertexts, then the rotate-and-add inner sum with the collective Galois keys), so its
decryption reveals the aggregate and nothing about single slots. Work grows with the number
of ciphertexts, i.e. records / slots.

| statistic | outputs per group |
|---|---|
| ``count``, ``histogram`` | count |
| ``sum``, ``mean`` | count, sum |
| ``variance`` | count, sum, sumsq (x*x under encryption, relinearised) |
| ``dot`` (two joined parties) | dot = sum x_i*y_i |
| ``regression`` (y on x) | count, sum_x, sum_y, sum_xx, sum_xy |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crypto.he import _bridge
from crypto.he.columns import columns
from crypto.he.container import Container, make
from crypto.he.keygen import KeySet
from crypto.he.params import info
from tulou.errors import InputError, UsageError

STATISTICS = ("count", "histogram", "sum", "mean", "variance", "dot", "regression")
JOINED = ("dot", "regression")


def _sum(keyset: KeySet, cts: Sequence[bytes]) -> bytes:
    return _bridge.call("sum", keyset.preset, [keyset.galois_keys, *cts])[0]


def _dot(keyset: KeySet, xs: Sequence[bytes], ys: Sequence[bytes]) -> bytes:
    if len(xs) != len(ys) or not xs:
        raise InputError("joined columns must have the same number of ciphertexts")
    args = [keyset.relin_key, keyset.galois_keys, _bridge.u64(len(xs)), *xs, *ys]
    return _bridge.call("dot", keyset.preset, args)[0]


def check_uploads(keyset: KeySet, uploads: Sequence[Container]) -> dict[str, Container]:
    """Each upload signed by a distinct party of the key set, under this key set."""
    by_party: dict[str, Container] = {}
    for up in uploads:
        if up.kind != "upload":
            raise InputError(f"expected an upload, got {up.kind!r}")
        if up.keyset != keyset.id or up.header.get("preset") != keyset.preset:
            raise InputError("an upload is under another key or other parameters")
        party = up.verify(keyset.plan.trusted())
        if party in by_party:
            raise InputError(f"two uploads from {party}")
        by_party[party] = up
    if not by_party:
        raise UsageError("no uploads")
    return by_party


def aggregate(
    keyset: KeySet,
    uploads: Sequence[Container],
    *,
    statistic: str,
    groups: Sequence[str],
    x: str | None = None,
    y: str | None = None,
) -> Container:
    """The encrypted outputs of ``statistic``; a ``result`` container (unsigned)."""
    if statistic not in STATISTICS:
        raise UsageError(f"unknown statistic {statistic!r} (one of {', '.join(STATISTICS)})")
    by_party = check_uploads(keyset, uploads)
    cols = {p: columns(u) for p, u in by_party.items()}
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []

    slots = info(keyset.preset).slots

    def emit(group: str, name: str, ct: bytes, records: int | None = None) -> None:
        entry: dict[str, Any] = {"group": group, "name": name}
        if records is not None:
            entry["max"] = records  # an upper bound on a count: ciphertexts x slots
        outputs.append(entry)
        blobs.append(ct)

    try:
        if statistic in JOINED:
            if x is None or y is None or x not in cols or y not in cols or x == y:
                raise UsageError(f"{statistic} needs the uploads of two parties: --x and --y")
            cx, cy = cols[x].get("*"), cols[y].get("*")
            if cx is None or cy is None:
                raise UsageError("joined uploads have the single group '*'")
            if statistic == "dot":
                emit("*", "dot", _dot(keyset, cx["value"], cy["value"]))
            else:
                if "ones" not in cx:
                    raise UsageError("regression needs the x party's ones column")
                emit("*", "count", _sum(keyset, cx["ones"]), len(cx["ones"]) * slots)
                emit("*", "sum_x", _sum(keyset, cx["value"]))
                emit("*", "sum_y", _sum(keyset, cy["value"]))
                emit("*", "sum_xx", _dot(keyset, cx["value"], cx["value"]))
                emit("*", "sum_xy", _dot(keyset, cx["value"], cy["value"]))
        else:
            for party, col in cols.items():
                if sorted(col) != sorted(groups):
                    raise InputError(
                        f"the upload of {party} does not hold exactly the request's groups"
                    )
            for g in groups:
                ones = [ct for col in cols.values() for ct in col[g].get("ones", [])]
                values = [ct for col in cols.values() for ct in col[g]["value"]]
                if len(ones) != len(values):
                    raise InputError(f"group {g}: every upload needs its ones column")
                emit(g, "count", _sum(keyset, ones), len(ones) * slots)
                if statistic in ("sum", "mean", "variance"):
                    emit(g, "sum", _sum(keyset, values))
                if statistic == "variance":
                    emit(g, "sumsq", _dot(keyset, values, values))
    except _bridge.BridgeError as exc:
        raise InputError(f"cannot aggregate: {exc}") from None
    return make(
        "result",
        keyset.id,
        keyset.preset,
        blobs,
        statistic=statistic,
        groups=list(groups),
        outputs=outputs,
        inputs={p: u.digest() for p, u in sorted(by_party.items())},
    )


def intersection_sum(keyset: KeySet, upload: Container, mask: Sequence[int]) -> Container:
    """PSI join: sum of the value holder's values where ``mask`` (from PSI) is 1, encrypted.

    ``upload`` holds the value holder's values in the order of its blinded identifiers
    (group ``*``); the count is public to the list holder already (the intersection size).
    """
    by_party = check_uploads(keyset, [upload])
    ((party, up),) = by_party.items()
    cts = columns(up).get("*", {}).get("value")
    slots = info(keyset.preset).slots
    if not cts or len(mask) > len(cts) * slots:
        raise InputError("the mask is longer than the joined column")
    padded = list(mask) + [0] * (len(cts) * slots - len(mask))
    try:
        ct = _bridge.call(
            "mask_sum", keyset.preset, [keyset.galois_keys, _bridge.u64(*padded), *cts]
        )[0]
    except _bridge.BridgeError as exc:
        raise InputError(f"cannot aggregate: {exc}") from None
    return make(
        "result",
        keyset.id,
        keyset.preset,
        [ct],
        statistic="intersection-sum",
        groups=["*"],
        outputs=[{"group": "*", "name": "sum"}],
        inputs={party: up.digest()},
        intersection=sum(padded),
    )
