"""The authorisation policy and the quota buckets (pure logic)."""

from __future__ import annotations

import pytest

from crypto.service.policy import Caller, Policy, QuotaLimiter
from tulou.errors import ConfigError

RULES = [
    {"id": "no-export", "effect": "deny", "callers": ["*"], "operations": ["export"]},
    {
        "id": "hr",
        "callers": ["service:hr-app", "group:hr"],
        "tenants": ["hr"],
        "keys": ["records/*"],
        "operations": ["encrypt", "decrypt"],
    },
    {"id": "admins", "callers": ["role:kms-admin"], "operations": ["*"]},
]
HR = Caller("service", "hr-app")
ADMIN = Caller("service", "root", roles=frozenset({"kms-admin"}))


def test_first_match_decides_and_default_denies() -> None:
    policy = Policy.from_data(RULES)
    assert policy.decide(HR, "hr", "records/a", "encrypt").allowed
    assert (
        policy.decide(
            Caller("user", "x", groups=frozenset({"hr"})), "hr", "records/a", "decrypt"
        ).rule
        == "hr"
    )
    assert not policy.decide(HR, "hr", "other/a", "encrypt").allowed  # other ring
    assert not policy.decide(HR, "tax", "records/a", "encrypt").allowed  # other tenant
    assert not policy.decide(HR, "hr", "records/a", "sign").allowed  # other operation
    denied = policy.decide(ADMIN, "hr", "records/a", "export")
    assert (denied.allowed, denied.rule) == (False, "no-export")  # the deny comes first
    assert policy.decide(ADMIN, "hr", "records/a", "sign").allowed
    nothing = policy.decide(Caller("service", "nobody"), "hr", "records/a", "encrypt")
    assert (nothing.allowed, nothing.rule) == (False, None) and "no rule allows" in nothing.reason
    # Repeated decisions (memoised) are the same.
    assert policy.decide(HR, "hr", "other/a", "encrypt") == policy.decide(
        HR, "hr", "other/a", "encrypt"
    )


def test_tenant_level_operations_need_a_star_key_pattern() -> None:
    policy = Policy.from_data(RULES)
    assert not policy.decide(HR, "hr", None, "encrypt").allowed
    assert policy.decide(ADMIN, "hr", None, "tenant-create").allowed


@pytest.mark.parametrize(
    "rule",
    [
        {"callers": ["*"], "operations": ["encrypt"]},  # no id
        {"id": "x", "callers": [], "operations": ["encrypt"]},
        {"id": "x", "callers": ["*"], "operations": ["encrpyt"]},
        {"id": "x", "callers": ["*"], "operations": ["encrypt"], "effect": "maybe"},
        {"id": "x", "callers": ["*"], "operations": ["encrypt"], "keyz": ["*"]},
    ],
)
def test_bad_rules_are_refused(rule: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Policy.from_data([rule])
    with pytest.raises(ConfigError, match="unique"):
        Policy.from_data([RULES[1], RULES[1]])


def test_quota_buckets_refill_and_count_batches() -> None:
    now = [0.0]
    quota = QuotaLimiter(10, 20, overrides={"service:big": (1000, 1000)}, clock=lambda: now[0])
    assert quota.take("service:a", 20)
    assert not quota.take("service:a", 1)
    now[0] += 0.5  # 5 tokens back
    assert quota.take("service:a", 5) and not quota.take("service:a", 1)
    assert quota.take("service:b", 20)  # buckets are per caller
    assert quota.take("service:big", 900)
    assert QuotaLimiter(0, 1).take("service:a", 10**6)  # rate 0 = off
