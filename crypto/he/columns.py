"""Department side: turn records into encrypted, slot-packed columns (one signed upload).

A department's records are ``(group, value)`` pairs; the group is a small public key such as
a district or a histogram bucket (the set of groups is public, which record is in which
group is not). For every group of the request the upload holds two columns, each packed
``slots`` values per ciphertext (zero-padded):

- ``value``: the values of the records in that group (BGV: integers; CKKS: reals);
- ``ones``: a 1 per record (so counts are computed under encryption too).

Every group of the request is present, empty ones included (an encryption of zeros), so
the upload does not show which groups a department has records in. The number of
ciphertexts per group (ceil(records / slots)) is public: it reveals each group's size to
within ``slots`` records. Joined columns (after PSI) are a single group ``*`` in the join
order, with no ``ones`` (the count comes from the PSI).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from crypto.he import _bridge
from crypto.he.container import Container, make
from crypto.he.keygen import KeySet
from crypto.he.params import info
from crypto.sm2 import SM2PrivateKey
from tulou.errors import UsageError

MAX_GROUPS = 256
MAX_VALUES = 1 << 24


def pack(values: Sequence[int] | Sequence[float], scheme: str) -> bytes:
    if scheme == "bgv":
        for v in values:
            if not isinstance(v, int) or isinstance(v, bool):
                raise UsageError("BGV columns hold integers")
        return struct.pack(f"<{len(values)}q", *values)
    return struct.pack(f"<{len(values)}d", *(float(v) for v in values))


def encrypt(keyset: KeySet, values: Sequence[int] | Sequence[float]) -> list[bytes]:
    """Encrypt ``values`` slot-packed under the key set's public key."""
    if len(values) > MAX_VALUES:
        raise UsageError(f"at most {MAX_VALUES} values per column")
    preset = info(keyset.preset)
    if preset.scheme == "bgv":
        bound = preset.integer_range
        if any(not -bound <= int(v) <= bound for v in values):
            raise UsageError(f"BGV values must be within ±{bound}")
    try:
        return _bridge.call(
            "encrypt", keyset.preset, [keyset.public_key, pack(values, preset.scheme)]
        )
    except _bridge.BridgeError as exc:
        raise UsageError(str(exc)) from None


def upload(
    keyset: KeySet,
    party: str,
    key: SM2PrivateKey,
    records: Iterable[tuple[str, int | float]],
    *,
    groups: Sequence[str],
    column: str = "value",
    with_ones: bool = True,
) -> Container:
    """One signed upload of a department: per group, its value column and its ones column."""
    keyset.plan.party(party)
    if len(set(groups)) != len(groups) or not 1 <= len(groups) <= MAX_GROUPS:
        raise UsageError(f"1..{MAX_GROUPS} distinct groups")
    by_group: dict[str, list[int | float]] = {g: [] for g in groups}
    for group, value in records:
        if group not in by_group:
            raise UsageError(f"record in group {group!r}, which is not one of the request's")
        by_group[group].append(value)
    blobs: list[bytes] = []
    layout = []
    for g in groups:
        vals = by_group[g]
        cts = encrypt(keyset, vals)
        entry = {"group": g, "column": column, "cts": len(cts)}
        blobs += cts
        if with_ones:
            ones = encrypt(
                keyset,
                [1] * len(vals) if info(keyset.preset).scheme == "bgv" else [1.0] * len(vals),
            )
            entry["ones"] = len(ones)
            blobs += ones
        layout.append(entry)
    return make("upload", keyset.id, keyset.preset, blobs, layout=layout).signed(party, key)


def columns(c: Container) -> dict[str, dict[str, list[bytes]]]:
    """group -> {"value": cts, "ones": cts} of a (checked) upload."""
    out: dict[str, dict[str, list[bytes]]] = {}
    pos = 0
    layout = c.header.get("layout")
    if not isinstance(layout, list):
        raise UsageError("upload has no layout")
    for entry in layout:
        try:
            group, n, ones = str(entry["group"]), int(entry["cts"]), int(entry.get("ones", 0))
        except (KeyError, TypeError, ValueError):
            raise UsageError("upload layout is malformed") from None
        if n < 1 or ones < 0 or group in out:
            raise UsageError("upload layout is malformed")
        out[group] = {"value": c.blobs[pos : pos + n]}
        pos += n
        if ones:
            out[group]["ones"] = c.blobs[pos : pos + ones]
            pos += ones
    if pos != len(c.blobs):
        raise UsageError("upload layout does not match its ciphertexts")
    return out
