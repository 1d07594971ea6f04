"""The join: PSI on SM2 gives the mask, the platform sums the values over it under HE."""

from __future__ import annotations

from crypto import psi
from crypto.he import aggregate, columns, decryption

from .conftest import World


def test_sum_of_benefits_over_the_intersection(bgv_world: World) -> None:
    hr_ids = [b"resident-%d" % i for i in range(0, 120, 2)]
    civil = {b"resident-%d" % i: i % 37 + 1 for i in range(0, 120, 3)}
    l_key, v_key = psi.PsiKey(), psi.PsiKey()
    double_l = psi.shuffled(v_key.reblind(psi.shuffled(l_key.blind_ids(hr_ids))))
    order = psi.permutation(len(civil))
    ids = list(civil)
    v_ids = [ids[i] for i in order]
    upload = columns.upload(
        bgv_world.keyset,
        "civil",
        bgv_world.keys["civil"],
        [("*", civil[i]) for i in v_ids],
        groups=["*"],
        with_ones=False,
    )
    mask = psi.match_mask(l_key.reblind(v_key.blind_ids(v_ids)), double_l)
    result = aggregate.intersection_sum(bgv_world.keyset, upload, mask)
    req = decryption.request(bgv_world.keyset, result, ["health", "hr"])
    shares = [
        decryption.share(req, bgv_world.shares[a], bgv_world.keys[a]) for a in ("health", "hr")
    ]
    both = set(hr_ids) & set(civil)
    assert result.header["intersection"] == len(both) == 20
    assert decryption.combine(bgv_world.keyset, req, shares) == [sum(civil[i] for i in both)]
