"""Release control: k per group, the discrete Laplace mechanism, derived statistics."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from crypto.he import release
from tulou.errors import PolicyDeniedError, UsageError


def test_groups_below_k_block_the_release() -> None:
    release.check_k({"a": 10, "b": 12}, 10)
    with pytest.raises(PolicyDeniedError, match="group\\(s\\) b have fewer than k = 10") as info:
        release.check_k({"a": 10, "b": 9}, 10)
    assert "9" not in info.value.message.replace("k = 10", "")


def test_policy_validation() -> None:
    with pytest.raises(UsageError):
        release.ReleasePolicy(k=0)
    with pytest.raises(UsageError, match="value-bound"):
        release.ReleasePolicy(epsilon=1.0)
    with pytest.raises(UsageError):
        release.ReleasePolicy(epsilon=0, value_bound=1)


def test_discrete_laplace_matches_its_distribution() -> None:
    scale = Fraction(2)
    n = 4000
    draws = [release.discrete_laplace(scale) for _ in range(n)]
    q = math.exp(-1 / 2)
    # P(Z = 0) = (1 - q) / (1 + q); Var = 2q / (1 - q)^2 (two-sided geometric).
    p0 = (1 - q) / (1 + q)
    var = 2 * q / (1 - q) ** 2
    assert abs(draws.count(0) / n - p0) < 4 * math.sqrt(p0 * (1 - p0) / n)
    assert abs(sum(draws) / n) < 4 * math.sqrt(var / n)
    assert abs(sum(d * d for d in draws) / n - var) < 0.2 * var
    assert abs(sum(d > 0 for d in draws) - sum(d < 0 for d in draws)) < 4 * math.sqrt(n)


def test_noise_is_added_and_bernoulli_exp_is_exact_in_its_edges() -> None:
    assert release._bernoulli_exp(Fraction(0)) is True
    values = {release.noisy(1000, 1, 0.5) for _ in range(50)}
    assert len(values) > 5 and all(abs(v - 1000) < 100 for v in values)


def test_derive_mean_variance_and_regression() -> None:
    assert release.derive("mean", {"count": 4, "sum": 10})["mean"] == 2.5
    var = release.derive("variance", {"count": 3, "sum": 6, "sumsq": 14})["variance"]
    assert var == pytest.approx(1.0)
    fit = release.derive(
        "regression", {"count": 3, "sum_x": 6, "sum_y": 13, "sum_xx": 14, "sum_xy": 30}
    )
    # points (1, 2), (2, 5), (3, 6): least squares y = 2x + 1/3
    assert fit["slope"] == pytest.approx(2.0) and fit["intercept"] == pytest.approx(1 / 3)
