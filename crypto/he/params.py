"""Parameter presets of the homomorphic statistics, with their security justification.

Each preset is defined once, in the Lattigo bridge (``crypto/he/lattigo/bridge.go``); this
module names them, asks the bridge for their actual moduli (:func:`info`) and checks them
against the HomomorphicEncryption.org standard (Albrecht et al., "Homomorphic Encryption
Security Standard", November 2018, Table 1: uniform ternary secret, error sigma ~ 3.2,
classical 128-bit security): the largest log2(QP) allowed for each ring degree N.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Final

from crypto.he import _bridge
from tulou.errors import ConfigError, UsageError

#: HE standard Table 1, 128-bit classical, ternary secret: N -> max log2(q) (here: of QP).
HE_STANDARD_128: Final = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}
PRESETS: Final = ("bgv-n14", "ckks-n14", "bgv-n13")
DEFAULT_INTEGER: Final = "bgv-n14"
DEFAULT_REAL: Final = "ckks-n14"


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    scheme: str  # "bgv" (exact integers mod t) or "ckks" (approximate reals)
    log_n: int
    slots: int
    log_qp: float
    max_level: int
    plaintext_modulus: int  # 0 for CKKS
    log_scale: int  # 0 for BGV
    flood_sigma: float
    galois_elements: tuple[int, ...]

    @property
    def n(self) -> int:
        return 1 << self.log_n

    @property
    def standard_bound(self) -> int:
        """The HE standard's max log2(QP) for this N at 128 bits."""
        return HE_STANDARD_128[self.n]

    @property
    def integer_range(self) -> int:
        """BGV: results are exact in [-(t-1)/2, (t-1)/2]; larger sums wrap modulo t."""
        return (self.plaintext_modulus - 1) // 2


@functools.cache
def info(name: str) -> Preset:
    """The preset's parameters; refuses a preset above the standard's bound."""
    if name not in PRESETS:
        raise UsageError(f"unknown parameter preset {name!r} (known: {', '.join(PRESETS)})")
    raw = json.loads(_bridge.call("info", name, [])[0])
    preset = Preset(
        name=name,
        scheme=raw["scheme"],
        log_n=raw["log_n"],
        slots=raw["slots"],
        log_qp=raw["log_qp"],
        max_level=raw["max_level"],
        plaintext_modulus=int(raw.get("plaintext_modulus", 0)),
        log_scale=int(raw.get("log_scale", 0)),
        flood_sigma=float(raw["flood_sigma"]),
        galois_elements=tuple(raw["galois_elements"]),
    )
    if preset.log_qp > preset.standard_bound or raw["sigma"] < 3.19 or raw["xs"] != 2 / 3:
        raise ConfigError(f"preset {name} is below 128-bit security by the HE standard")
    return preset


def ckks_error_bound(preset: Preset, parties: int) -> float:
    """A bound on the absolute error of one released CKKS sum or dot product.

    The error is dominated by the decryption shares' flooding noise: each of the ``parties``
    adds a discrete Gaussian of sigma = 2^30 per coefficient, which is sigma * sqrt(N) per slot
    after decoding, divided by the scale 2^log_scale. Six standard deviations of the sum of
    the parties' noise (probability ~2e-9 of being exceeded), plus a margin of 2x for the
    encryption, rounding and key-switching noise (each below 2^-20 here).
    """
    if preset.scheme != "ckks":
        raise UsageError("an error bound exists only for CKKS presets (BGV is exact)")
    sigma = preset.flood_sigma * preset.n**0.5 * parties**0.5 / 2.0**preset.log_scale
    return float(2 * 6 * sigma)
