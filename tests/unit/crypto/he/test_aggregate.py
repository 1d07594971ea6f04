"""Statistics under encryption equal the plaintext computation (BGV exact, CKKS within bound)."""

from __future__ import annotations

import random  # noqa: TID251 - reproducible test data, nothing secret

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.he import aggregate, columns, decryption, release
from crypto.he.params import ckks_error_bound, info

from .conftest import NAMES, World

GROUPS = ["east", "west", "north"]


def _released(world: World, ups, statistic, groups, active=("civil", "hr"), **kw):
    result = aggregate.aggregate(world.keyset, ups, statistic=statistic, groups=groups, **kw)
    req = decryption.request(world.keyset, result, list(active))
    shares = [decryption.share(req, world.shares[a], world.keys[a]) for a in active]
    values = decryption.combine(world.keyset, req, shares)
    out: dict[str, dict[str, float | int]] = {}
    for entry, value in zip(result.header["outputs"], values, strict=True):
        out.setdefault(entry["group"], {})[entry["name"]] = value
    return out


records = st.lists(st.tuples(st.sampled_from(GROUPS), st.integers(-20, 20)), max_size=300)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.fixed_dictionaries({n: records for n in NAMES}))
def test_group_by_count_sum_variance_are_exact(bgv_world: World, data) -> None:
    ups = [
        columns.upload(bgv_world.keyset, n, bgv_world.keys[n], recs, groups=GROUPS)
        for n, recs in data.items()
    ]
    got = _released(bgv_world, ups, "variance", GROUPS)
    for g in GROUPS:
        vals = [v for recs in data.values() for grp, v in recs if grp == g]
        assert got[g] == {"count": len(vals), "sum": sum(vals), "sumsq": sum(v * v for v in vals)}
        derived = release.derive("variance", got[g])
        if len(vals) > 1:
            mean = sum(vals) / len(vals)
            assert (
                abs(derived["variance"] - sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
                < 1e-9
            )


def test_histogram_over_buckets_and_packing_across_ciphertexts(bgv_world: World) -> None:
    rng = random.Random(3)
    slots = info("bgv-n13").slots
    edges = [0, 10, 100, 1000]
    buckets = ["<10", "10-99", "100-999"]

    def bucket(v: int) -> str:
        return next(b for b, hi in zip(buckets, edges[1:], strict=True) if v < hi)

    data = {
        n: [rng.randrange(1000) for _ in range(rng.randint(slots - 5, slots + 5))] for n in NAMES
    }
    ups = [
        columns.upload(
            bgv_world.keyset, n, bgv_world.keys[n], [(bucket(v), 1) for v in vals], groups=buckets
        )
        for n, vals in data.items()
    ]
    got = _released(bgv_world, ups, "histogram", buckets, active=("health", "hr"))
    for b in buckets:
        assert got[b] == {"count": sum(bucket(v) == b for vals in data.values() for v in vals)}


def test_joined_dot_product_and_regression(bgv_world: World) -> None:
    rng = random.Random(5)
    xs = [rng.randint(0, 8) for _ in range(100)]  # sums stay below t/2 = 32768 (bgv-n13)
    ys = [3 * x + 7 + rng.randint(-2, 2) for x in xs]
    ux = columns.upload(
        bgv_world.keyset, "civil", bgv_world.keys["civil"], [("*", x) for x in xs], groups=["*"]
    )
    uy = columns.upload(
        bgv_world.keyset,
        "health",
        bgv_world.keys["health"],
        [("*", y) for y in ys],
        groups=["*"],
        with_ones=False,
    )
    got = _released(bgv_world, [ux, uy], "regression", ["*"], x="civil", y="health")["*"]
    assert got == {
        "count": 100,
        "sum_x": sum(xs),
        "sum_y": sum(ys),
        "sum_xx": sum(x * x for x in xs),
        "sum_xy": sum(x * y for x, y in zip(xs, ys, strict=True)),
    }
    fit = release.derive("regression", got)
    assert abs(fit["slope"] - 3) < 0.1 and abs(fit["intercept"] - 7) < 2


def test_ckks_mean_within_the_stated_bound(ckks_world: World) -> None:
    rng = random.Random(11)
    data = {n: [rng.uniform(-500, 500) for _ in range(rng.randint(1000, 9000))] for n in NAMES}
    ups = [
        columns.upload(
            ckks_world.keyset, n, ckks_world.keys[n], [("all", v) for v in vals], groups=["all"]
        )
        for n, vals in data.items()
    ]
    got = _released(ckks_world, ups, "variance", ["all"])["all"]
    bound = ckks_error_bound(info("ckks-n14"), 2)
    everything = [v for vals in data.values() for v in vals]
    assert abs(got["count"] - len(everything)) <= bound
    assert abs(got["sum"] - sum(everything)) <= bound
    assert abs(got["sumsq"] - sum(v * v for v in everything)) <= bound
    assert 0.001 < bound < 0.1
