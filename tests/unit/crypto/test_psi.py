"""PSI on SM2: RFC 9380 hash-to-curve (checked on P-256's published vectors), blinding, joins."""

from __future__ import annotations

import hashlib

import pytest

from crypto import psi
from crypto.sm2 import A, B, P
from tulou.errors import InputError

P256 = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_CURVE = psi.Curve(
    P256, P256 - 3, 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B, -10
)
QUUX = b"QUUX-V01-CS02-with-P256_XMD:SHA-256_SSWU_RO_"


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# RFC 9380 appendix J.1.1, P256_XMD:SHA-256_SSWU_RO_ (u0, u1, P.x, P.y).
J11 = [
    (
        b"",
        "ad5342c66a6dd0ff080df1da0ea1c04b96e0330dd89406465eeba11582515009",
        "8c0f1d43204bd6f6ea70ae8013070a1518b43873bcd850aafa0a9e220e2eea5a",
        "2c15230b26dbc6fc9a37051158c95b79656e17a1a920b11394ca91c44247d3e4",
        "8a7a74985cc5c776cdfe4b1f19884970453912e9d31528c060be9ab5c43e8415",
    ),
    (
        b"abc",
        "afe47f2ea2b10465cc26ac403194dfb68b7f5ee865cda61e9f3e07a537220af1",
        "379a27833b0bfe6f7bdca08e1e83c760bf9a338ab335542704edcd69ce9e46e0",
        "0bb8b87485551aa43ed54f009230450b492fead5f1cc91658775dac4a3388a0f",
        "5c41b3d0731a27a7b14bc0bf0ccded2d8751f83493404c84a88e71ffd424212e",
    ),
]


@pytest.mark.parametrize(("msg", "u0", "u1", "px", "py"), J11)
def test_the_map_and_xmd_reproduce_rfc9380_p256_vectors(msg, u0, u1, px, py) -> None:
    assert psi.hash_to_field(msg, QUUX, P256_CURVE, 2, hash_fn=_sha256) == [
        int(u0, 16),
        int(u1, 16),
    ]
    assert psi.hash_to_curve(msg, dst=QUUX, curve=P256_CURVE, hash_fn=_sha256) == (
        int(px, 16),
        int(py, 16),
    )


def _is_square(x: int, p: int) -> bool:
    return x % p == 0 or pow(x, (p - 1) // 2, p) == 1


def _has_root(z: int, a: int, b: int, p: int) -> bool:
    """Whether x^3 + a x + b - z has a root in F_p: gcd(x^p - x, g - z) != 1."""
    m = [(b - z) % p, a % p, 0]

    def mulmod(f: list[int], g: list[int]) -> list[int]:
        r = [0] * (len(f) + len(g) - 1)
        for i, x in enumerate(f):
            for j, y in enumerate(g):
                r[i + j] = (r[i + j] + x * y) % p
        while len(r) > 3:
            c = r.pop()
            for k in range(3):
                r[len(r) - 3 + k] = (r[len(r) - 3 + k] - c * m[k]) % p
        return r

    res, base, e = [1], [0, 1], p
    while e:
        if e & 1:
            res = mulmod(res, base)
        base, e = mulmod(base, base), e >> 1
    r = [*res, 0, 0, 0][:3]
    r[1] = (r[1] - 1) % p

    def trim(f: list[int]) -> list[int]:
        while f and f[-1] == 0:
            f.pop()
        return f

    f, g = trim([*m, 1]), trim(r)
    while g:
        f2 = f[:]
        while len(trim(f2)) >= len(g):
            c, d = f2[-1] * pow(g[-1], -1, p) % p, len(f2) - len(g)
            for k in range(len(g)):
                f2[d + k] = (f2[d + k] - c * g[k]) % p
        f, g = g, trim(f2)
    return len(f) > 1


def _find_z(a: int, b: int, p: int) -> int:
    """RFC 9380 appendix H.2's search (written from its description)."""
    ctr = 1
    while True:
        for z in (ctr, -ctr):
            zc = z % p
            if _is_square(zc, p) or zc == p - 1 or _has_root(zc, a, b, p):
                continue
            x0 = b * pow(zc * a, -1, p) % p
            if _is_square(x0**3 + a * x0 + b, p):
                return z
        ctr += 1


def test_z_is_the_first_value_of_the_rfc_h2_search() -> None:
    assert _find_z(P256_CURVE.a, P256_CURVE.b, P256) == -10  # the RFC's Z for P-256
    assert _find_z(A, B, P) == psi.Z_SM2 == -9


def test_sm2_hash_points_are_on_the_curve_and_distinct() -> None:
    seen = set()
    for i in range(50):
        x, y = psi.hash_to_curve(b"id-%d" % i)
        assert (y * y - (x**3 + A * x + B)) % P == 0
        seen.add(x)
    assert len(seen) == 50
    assert psi.hash_to_curve(b"a") != psi.hash_to_curve(b"a", dst=b"OTHER-DST")


def test_blinding_commutes_and_finds_exactly_the_intersection() -> None:
    a, b = psi.PsiKey(), psi.PsiKey()
    mine = [b"L%d" % i for i in range(60)]
    theirs = [b"L%d" % i for i in range(40, 90)] + [b"V%d" % i for i in range(20)]
    ab = psi.shuffled(b.reblind(psi.shuffled(a.blind_ids(mine))))
    ba = a.reblind(b.blind_ids(theirs))
    mask = psi.match_mask(ba, ab)
    assert mask == [1 if t in set(mine) else 0 for t in theirs]
    assert sum(mask) == 20
    assert set(a.blind_ids(mine)).isdisjoint(b.blind_ids(mine))  # single blinding hides ids


def test_points_off_the_curve_are_refused() -> None:
    with pytest.raises(InputError, match="not on the SM2 curve"):
        psi.PsiKey().reblind([b"\x02" + b"\x00" * 31 + b"\x05", b""])
    assert repr(psi.PsiKey()) == "PsiKey(<secret>)"
