"""Derive the constants that compute the SM4 S-box with AES-NI; a development tool, not imported.

SM4's S-box (GB/T 32907-2016, clause 6.2, Table 1) is affine-equivalent to inversion in
GF(2^8) = GF(2)[x] / f(x), f(x) = x^8 + x^7 + x^6 + x^5 + x^4 + x^2 + 1::

    S(x) = A * inv_f(A * x + C) + C,    A = circulant(0xA7), C = 0xD3

and AES's S-box (FIPS 197, clause 5.1.1) is inversion in GF(2)[x] / (x^8 + x^4 + x^3 + x + 1)
followed by AES's affine map: S_aes(y) = M * inv_aes(y) + 0x63. The two fields are isomorphic:
for a root b of f in the AES field, T: sum a_i x^i -> sum a_i b^i is linear and
T(inv_f(z)) = inv_aes(T(z)) (derive_sm4_gfni.py uses the same map). So inv_f(z) =
T^-1 M^-1 (S_aes(T z) + 0x63) and::

    S(x) = M2 * S_aes(M1 * x + c1) + c2,
    M1 = T A,  c1 = T C,  M2 = A T^-1 M^-1,  c2 = M2 * 0x63 + C

AES-NI exposes S_aes only inside AESENCLAST(y, 0) = ShiftRows(SubBytes(y)); the two affine maps
run as nibble lookups with PSHUFB (register shuffles, not memory: constant time):
``M * v + c = LO[v & 15] ^ HI[v >> 4]`` with LO[n] = M n + c and HI[n] = M (n << 4).
ShiftRows moves bytes between the 32-bit words of a 128-bit lane; since the post-affine map acts
on each byte alike, it runs before the bytes are put back, and putting them back is fused with
the rotations of SM4's linear map L by 0, 8, 16 and 24 bits: four PSHUFB permutations
(SR_ROL0..SR_ROL24).

The script derives the four tables and the four permutations, models AESENCLAST (ShiftRows on
the column-major AES state, SubBytes from its definition, checked against FIPS 197's S-box
values), checks all 256 S-box values against the standard's Table 1 (as transcribed
independently by the ``gmssl`` package, a test dependency), checks the whole round function
T = L(tau(.)) on one 128-bit lane of four words against the reference for many words, and prints
the C constants used in ``sm4_aesni.h``. Run: ``python crypto/_native/derive_sm4_aesni.py``.
"""

from __future__ import annotations

import random  # noqa: TID251 - test words for the model check, nothing secret
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The GF(2^8) helpers shared with the GFNI derivation, beside this file.
from derive_sm4_gfni import (
    F_AES,
    F_SM4,
    Matrix,
    _power,
    apply,
    circulant,
    compose,
    from_columns,
    gf_inv,
    invert,
    reference_sbox,
)

AES_AFFINE = 0x63
#: FIPS 197 Figure 7 (S-box), a few entries: the model of SubBytes must reproduce them.
FIPS197_SBOX_SAMPLES = {0x00: 0x63, 0x01: 0x7C, 0x10: 0xCA, 0x53: 0xED, 0x9A: 0xB8, 0xFF: 0x16}


#: FIPS 197 clause 5.1.1: inversion in the AES field, then the affine map (circulant 0xF1).
_AES_SBOX: list[int] = [apply(circulant(0xF1), gf_inv(y, F_AES)) ^ AES_AFFINE for y in range(256)]


def aes_sbox(y: int) -> int:
    return _AES_SBOX[y]


def nibble_tables(m: Matrix, c: int) -> tuple[list[int], list[int]]:
    """LO, HI with m * v + c == LO[v & 15] ^ HI[v >> 4] for every byte v."""
    return [apply(m, n) ^ c for n in range(16)], [apply(m, n << 4) for n in range(16)]


def _is_root(b: int) -> bool:
    acc = 0
    for i in range(9):
        if (F_SM4 >> i) & 1:
            acc ^= _power(b, i)
    return acc == 0


def derive_affine() -> tuple[Matrix, int, Matrix, int]:
    """M1, c1, M2, c2 with S(x) = M2 * S_aes(M1 x + c1) + c2 for all 256 x (else exit)."""
    sbox = reference_sbox()
    for y, want in FIPS197_SBOX_SAMPLES.items():
        if aes_sbox(y) != want:
            raise SystemExit("the AES S-box model does not match FIPS 197")
    a, c = circulant(0xA7), 0xD3
    m_inv = invert(circulant(0xF1))
    for b in (b for b in range(2, 256) if _is_root(b)):
        t = from_columns([_power(b, j) for j in range(8)])
        m1, c1 = compose(t, a), apply(t, c)
        m2 = compose(a, compose(invert(t), m_inv))
        c2 = apply(m2, AES_AFFINE) ^ c
        if all(apply(m2, aes_sbox(apply(m1, x) ^ c1)) ^ c2 == sbox[x] for x in range(256)):
            return m1, c1, m2, c2
    raise SystemExit("no root of f in the AES field gives the S-box (a bug in this script)")


def shift_rows(state: list[int]) -> list[int]:
    """FIPS 197 clause 5.1.2 on the 16-byte column-major state: byte 4c + r comes from
    column (c + r) mod 4 of row r."""
    return [state[4 * ((i // 4 + i % 4) % 4) + i % 4] for i in range(16)]


def aesenclast_zero_key(state: list[int]) -> list[int]:
    return shift_rows([aes_sbox(v) for v in state])


def permutations() -> dict[int, list[int]]:
    """PSHUFB controls: for k in 0, 8, 16, 24, the bytes of AESENCLAST's output put back in
    their words and each 32-bit word (little-endian dword in the register) rotated left by k."""
    # AESENCLAST output byte 4c + r holds the S-box of input byte 4((c + r) % 4) + r, so input
    # byte p = 4c' + r is found at output position 4((c' - r) % 4) + r.
    unshift = [4 * ((i // 4 - i % 4) % 4) + i % 4 for i in range(16)]
    out = {}
    for k in (0, 8, 16, 24):
        s = k // 8  # dword byte r of the rotated word is byte (r - s) % 4 of the word
        out[k] = [unshift[4 * (i // 4) + (i % 4 - s) % 4] for i in range(16)]
    return out


def _rol(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def _pshufb(table: list[int], idx: list[int]) -> list[int]:
    return [0 if i & 0x80 else table[i & 15] for i in idx]


def model_round_t(words: list[int], consts: dict[str, list[int]]) -> list[int]:
    """The kernel's T on one 128-bit lane of four words (dword i = bytes 4i..4i+3, LE)."""
    v = [(words[i // 4] >> (8 * (i % 4))) & 0xFF for i in range(16)]
    lo = [b & 15 for b in v]
    hi = [b >> 4 for b in v]
    pre = zip(_pshufb(consts["PRE_LO"], lo), _pshufb(consts["PRE_HI"], hi), strict=True)
    y = [p ^ q for p, q in pre]
    s = aesenclast_zero_key(y)
    lo, hi = [b & 15 for b in s], [b >> 4 for b in s]
    post = zip(_pshufb(consts["POST_LO"], lo), _pshufb(consts["POST_HI"], hi), strict=True)
    p = [u ^ w for u, w in post]

    def dwords(b: list[int]) -> list[int]:
        return [sum(b[4 * i + j] << (8 * j) for j in range(4)) for i in range(4)]

    b0, b8, b16, b24 = (dwords(_pshufb(p, consts[f"SR_ROL{k}"])) for k in (0, 8, 16, 24))
    return [
        b0[i] ^ b24[i] ^ _rol(b0[i] ^ b8[i] ^ b16[i], 2)  # L as the kernel computes it
        for i in range(4)
    ]


def reference_t(word: int, sbox: list[int]) -> int:
    """GB/T 32907 clause 6.2: T(x) = L(tau(x)), L(b) = b ^ b<<<2 ^ b<<<10 ^ b<<<18 ^ b<<<24."""
    b = sum(sbox[(word >> (8 * j)) & 0xFF] << (8 * j) for j in range(4))
    return b ^ _rol(b, 2) ^ _rol(b, 10) ^ _rol(b, 18) ^ _rol(b, 24)


def derive() -> dict[str, list[int]]:
    """Every constant of sm4_aesni.h, checked (SystemExit on any disagreement)."""
    m1, c1, m2, c2 = derive_affine()
    pre_lo, pre_hi = nibble_tables(m1, c1)
    post_lo, post_hi = nibble_tables(m2, c2)
    consts = {"PRE_LO": pre_lo, "PRE_HI": pre_hi, "POST_LO": post_lo, "POST_HI": post_hi}
    consts.update({f"SR_ROL{k}": perm for k, perm in permutations().items()})
    rnd = random.Random(32907)  # noqa: S311 - reproducible sample words, nothing secret
    samples = [[rnd.getrandbits(32) for _ in range(4)] for _ in range(2000)]
    samples += [[4 * i + j for j in range(4)] for i in range(64)]  # every byte value once
    samples += [[0x01010101 * (4 * i + j) for j in range(4)] for i in range(64)]
    sbox = reference_sbox()
    for words in samples:
        if model_round_t(words, consts) != [reference_t(w, sbox) for w in words]:
            raise SystemExit("the modelled AES-NI round function disagrees with GB/T 32907")
    return consts


def main() -> int:
    consts = derive()
    print("/* Generated by crypto/_native/derive_sm4_aesni.py: all 256 S-box values and the")
    print(" * round function T checked against GB/T 32907 (bytes in _mm_setr_epi8 order). */")
    for name, values in consts.items():
        print(f"#define SM4_AESNI_{name} {', '.join(f'0x{v:02x}' for v in values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
