"""Private set intersection on the SM2 curve (Private Join and Compute style).

**Hash to curve.** RFC 9380's ``hash_to_curve`` (random-oracle variant, section 3) with the
simplified SWU map (section 6.6.2) on the GB/T 32918.5 recommended curve (y^2 = x^3 + ax + b,
a = p - 3, so a*b != 0 and SSWU applies directly, no isogeny; cofactor 1) and
``expand_message_xmd`` (5.3.1) over SM3 (b = 32, s = 64 bytes), L = 48, two field elements
per message. Z = -9: the first value of RFC 9380 appendix H.2's search for this curve
(non-square, != -1, g(x) - Z irreducible, g(B/(Z*A)) square; ``tests/unit/crypto/test_psi.py``
re-runs the search, and runs the same map code with P-256's parameters against the RFC's
appendix J.1.1 vectors). Suite id: ``SM2_XMD:SM3_SSWU_RO_``; Tulou's DST:
``TULOU-V01-CS01-with-SM2_XMD:SM3_SSWU_RO_``. Field arithmetic is Python integers (inputs
are the party's own identifiers on its own machine; not constant-time).

**Blinding.** Each party has a secret scalar k (``secrets``, in [1, n-1]); [k]H(x) in
libcrypto (:mod:`crypto._ecops`). Commutative: [a][b]H(x) = [b][a]H(x). Protocol (Ion et
al., "On Deploying Secure Computing: Private Intersection-Sum-with-Cardinality", 2020), list
holder L (identifiers only) and value holder V (identifiers with values):

1. L sends [a]H(x) for its identifiers, shuffled.
2. V returns them re-blinded, [b][a]H(x), shuffled again; and sends [b]H(y) for its own
   identifiers in a random order, with its values in that order, encrypted under the joint
   HE key (:mod:`crypto.he.columns`, one group ``*``).
3. L computes [a][b]H(y), marks the positions found among the double-blinded set (the
   intersection size), and the platform computes sum_j mask_j * Enc(value_j) — the sum over
   the intersection — which t departments decrypt.

Under DDH on the SM2 curve (random oracle H), semi-honest: L learns the intersection size and
which positions of V's shuffled list match (not which identifiers); V learns nothing but
what it is told; values are only ever seen encrypted; nobody learns non-matching records.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from crypto import _ecops
from crypto.sm2 import A, B, N, P
from crypto.sm3 import SM3Hasher
from tulou.errors import InputError, UsageError

DST: Final = b"TULOU-V01-CS01-with-SM2_XMD:SM3_SSWU_RO_"
Z_SM2: Final = -9
MAX_ITEMS: Final = 1 << 24


@dataclass(frozen=True, slots=True)
class Curve:
    p: int
    a: int
    b: int
    z: int
    length: int = 48  # L = ceil((ceil(log2 p) + k) / 8), k = 128


SM2_CURVE: Final = Curve(P, A, B, Z_SM2)


def _sm3(data: bytes) -> bytes:
    h = SM3Hasher()
    h.update(data)
    return h.digest()


def expand_message_xmd(
    msg: bytes,
    dst: bytes,
    length: int,
    *,
    hash_fn: Callable[[bytes], bytes] = _sm3,
    b: int = 32,
    s: int = 64,
) -> bytes:
    """RFC 9380 section 5.3.1."""
    ell = -(-length // b)
    if ell > 255 or length > 65535 or len(dst) > 255:
        raise UsageError("expand_message_xmd: output or DST too long")
    dst_prime = dst + bytes([len(dst)])
    b0 = hash_fn(bytes(s) + msg + length.to_bytes(2, "big") + b"\0" + dst_prime)
    out = [hash_fn(b0 + b"\1" + dst_prime)]
    for i in range(2, ell + 1):
        prev = bytes(x ^ y for x, y in zip(b0, out[-1], strict=True))
        out.append(hash_fn(prev + bytes([i]) + dst_prime))
    return b"".join(out)[:length]


def hash_to_field(msg: bytes, dst: bytes, curve: Curve, count: int = 2, **xmd: Any) -> list[int]:
    data = expand_message_xmd(msg, dst, count * curve.length, **xmd)
    return [
        int.from_bytes(data[i * curve.length : (i + 1) * curve.length], "big") % curve.p
        for i in range(count)
    ]


def map_to_curve(u: int, c: Curve) -> tuple[int, int]:
    """Simplified SWU, RFC 9380 section 6.6.2 (straight-line form), p = 3 mod 4."""
    p, a, b, z = c.p, c.a, c.b, c.z % c.p
    zu2 = z * u * u % p
    den = (zu2 * zu2 + zu2) % p
    x1 = b * pow(z * a, -1, p) % p if den == 0 else (-b * pow(a, -1, p)) * (1 + pow(den, -1, p)) % p
    gx1 = (x1 * x1 * x1 + a * x1 + b) % p
    y = pow(gx1, (p + 1) // 4, p)
    if y * y % p == gx1:
        x = x1
    else:
        x = zu2 * x1 % p
        gx2 = (x * x * x + a * x + b) % p
        y = pow(gx2, (p + 1) // 4, p)
    if (u & 1) != (y & 1):
        y = p - y
    return x, y


def _add(p1: tuple[int, int], p2: tuple[int, int], c: Curve) -> tuple[int, int] | None:
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % c.p == 0:
            return None
        lam = (3 * x1 * x1 + c.a) * pow(2 * y1, -1, c.p) % c.p
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, c.p) % c.p
    x3 = (lam * lam - x1 - x2) % c.p
    return x3, (lam * (x1 - x3) - y1) % c.p


def hash_to_curve(
    msg: bytes, *, dst: bytes = DST, curve: Curve = SM2_CURVE, **xmd: Any
) -> tuple[int, int]:
    u0, u1 = hash_to_field(msg, dst, curve, 2, **xmd)
    point = _add(map_to_curve(u0, curve), map_to_curve(u1, curve), curve)
    if point is None:  # probability ~2^-256
        raise InputError("hash_to_curve hit the point at infinity")
    return point


def encode(point: tuple[int, int]) -> bytes:
    """SEC 1 compressed encoding (33 bytes)."""
    return bytes([2 + (point[1] & 1)]) + point[0].to_bytes(32, "big")


class PsiKey:
    """A party's secret blinding scalar (fresh per protocol run)."""

    def __init__(self) -> None:
        self._scalar = _ecops.Scalar((secrets.randbelow(N - 1) + 1).to_bytes(32, "big"))

    def __repr__(self) -> str:
        return "PsiKey(<secret>)"

    def blind_ids(self, ids: Iterable[bytes]) -> list[bytes]:
        """[k]H(id) for each identifier, in input order."""
        points = [encode(hash_to_curve(i)) for i in ids]
        if len(points) > MAX_ITEMS:
            raise UsageError(f"at most {MAX_ITEMS} identifiers")
        return self._scalar.multiply(points)

    def reblind(self, points: Sequence[bytes]) -> list[bytes]:
        """[k]P for each of the other party's points (checked on the curve)."""
        if len(points) > MAX_ITEMS:
            raise UsageError(f"at most {MAX_ITEMS} points")
        return self._scalar.multiply(points)


def shuffled(items: Sequence[bytes]) -> list[bytes]:
    out = list(items)
    for i in range(len(out) - 1, 0, -1):  # Fisher-Yates with secrets
        j = secrets.randbelow(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def permutation(n: int) -> list[int]:
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def match_mask(theirs_double: Sequence[bytes], mine_double: Sequence[bytes]) -> list[int]:
    """1 where a double-blinded point of V's list is in L's double-blinded set."""
    mine = set(mine_double)
    if len(mine) != len(mine_double):
        raise InputError("duplicate identifiers in the list (deduplicate before PSI)")
    return [1 if p in mine else 0 for p in theirs_double]
