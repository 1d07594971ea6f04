"""Release control: k records per group, optional differential privacy, a signed record.

A result is released only if every group has at least ``k`` contributing records (the
decrypted counts); otherwise nothing but the refusal is released (the combiner has seen the
counts; the record names the groups below k, not their counts). With ``epsilon`` set, the
integer aggregates (counts, sums) get discrete Laplace noise — the two-sided geometric
mechanism, P(z) ∝ exp(-epsilon*|z|/Δ), which is epsilon-DP for a query of L1 sensitivity Δ
(Ghosh, Roughgarden, Sundararajan 2009) — drawn with :mod:`secrets` (exact integer sampling
by the inverse geometric method over rationals, no floating-point tails). Means, variances
and regression coefficients are then computed from the noisy aggregates (post-processing
keeps the guarantee). Δ is per aggregate: 1 for counts, the declared value bound for sums.
The total budget of a release with m noisy aggregates is m*epsilon (sequential composition);
the record states both.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tulou.errors import PolicyDeniedError, UsageError


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    k: int = 10
    epsilon: float | None = None
    value_bound: int = 0  # the sensitivity of a sum: |value| <= value_bound

    def __post_init__(self) -> None:
        if self.k < 1:
            raise UsageError("k must be >= 1")
        if self.epsilon is not None and not (0 < self.epsilon <= 10):
            raise UsageError("epsilon must be in (0, 10]")
        if self.epsilon is not None and self.value_bound < 1:
            raise UsageError("differential privacy needs --value-bound (the sensitivity of a sum)")


def _bernoulli_exp(gamma: Fraction) -> bool:
    """True with probability exp(-gamma), gamma >= 0 (Canonne, Kamath, Steinke 2020, alg. 1-2)."""
    while gamma > 1:
        if not _bernoulli_exp(Fraction(1)):
            return False
        gamma -= 1
    k = 1
    while True:
        # Bernoulli(gamma / k) with exact rationals
        if secrets.randbelow(gamma.denominator * k) >= gamma.numerator:
            return k % 2 == 1
        k += 1


def discrete_laplace(scale: Fraction) -> int:
    """Z with P(Z = z) ∝ exp(-|z| / scale), exactly (Canonne, Kamath, Steinke 2020, alg. 2)."""
    if scale <= 0:
        raise UsageError("the noise scale must be positive")
    s, t = scale.numerator, scale.denominator
    while True:
        u = secrets.randbelow(s)
        if not _bernoulli_exp(Fraction(u, s)):
            continue
        v = 0
        while _bernoulli_exp(Fraction(1)):
            v += 1
        value = (u + s * v) // t
        if secrets.randbelow(2) == 1:
            if value == 0:
                continue
            value = -value
        return value


def check_k(counts: dict[str, int], k: int) -> None:
    small = sorted(g for g, c in counts.items() if c < k)
    if small:
        raise PolicyDeniedError(
            f"not released: group(s) {', '.join(small)} have fewer than k = {k} records"
        )


def noisy(value: int, sensitivity: int, epsilon: float) -> int:
    scale = Fraction(sensitivity) / Fraction(epsilon).limit_denominator(10**6)
    return value + discrete_laplace(scale)


def derive(statistic: str, agg: dict[str, float | int]) -> dict[str, Any]:
    """The released statistic from the (possibly noisy) aggregates of one group."""
    n = agg.get("count")
    out: dict[str, Any] = dict(agg)
    if statistic in ("mean", "variance") and n:
        out["mean"] = agg["sum"] / n
    if statistic == "variance" and n and n > 1:
        out["variance"] = (agg["sumsq"] - agg["sum"] ** 2 / n) / (n - 1)
    if statistic == "regression" and n:
        sx, sy, sxx, sxy = agg["sum_x"], agg["sum_y"], agg["sum_xx"], agg["sum_xy"]
        den = n * sxx - sx * sx
        if den:
            slope = (n * sxy - sx * sy) / den
            out["slope"] = slope
            out["intercept"] = (sy - slope * sx) / n
    return {
        k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in out.items()
    }
