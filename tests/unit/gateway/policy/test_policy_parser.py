"""The policy parser: valid files load; every problem is reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy import Effect, load_policy, parse_policy
from tulou.errors import ConfigError

GOOD = """\
version: 1
rules:
  - id: block-admin
    effect: deny
    paths: [/admin/**]
  - id: hr-read
    effect: allow
    description: HR staff read HR records
    routes: [hr]
    methods: [get, HEAD]
    paths: ["/api/**"]
    groups: [hr-staff]
    claims: {acr: [mfa]}
    device: {bound: true, enrolled: true, min_os_patch_level: "2025-01", fresh: true}
    networks: [10.0.0.0/8, "2001:db8::/32"]
    time: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00",
           timezone: Asia/Shanghai}
  - id: health
    effect: allow
    anonymous: true
    paths: [/health]
"""


def test_parses_a_full_policy() -> None:
    policy = parse_policy(GOOD, "p.yaml")
    assert policy.rule_ids == ("block-admin", "hr-read", "health")
    hr = policy.rules[1]
    assert hr.effect is Effect.ALLOW
    assert hr.methods == frozenset({"GET", "HEAD"})
    assert hr.device is not None and hr.device.required and hr.device.bound
    assert hr.claims == (("acr", frozenset({"mfa"})),)
    assert hr.location == "p.yaml:6"
    assert policy.digest is not None and len(policy.digest) == 64
    assert [r.id for r in policy.evaluation_order] == ["block-admin", "hr-read", "health"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n    method: [GET]\n", "p:3: unknown"),
        ("version: 1\nrules:\n  - id: a\n    effect: maybe\n", "effect must be"),
        ("version: 1\nrules:\n  - id: A B\n    effect: allow\n", "id must match"),
        ("version: 1\nrules:\n  - id: builtin:x\n    effect: allow\n", "id must match"),
        ("version: 2\nrules: []\n", "version must be 1"),
        ("version: 1\nrules: {}\n", "rules must be a list"),
        ("version: 1\nrules: []\nextra: 1\n", "unknown top-level"),
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n    methods: [FETCH]\n", "FETCH"),
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n    paths: [api]\n", "start with"),
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n    networks: [10.0.0.1/8]\n", "net"),
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n    time: {days: [xyz]}\n", "days"),
        (
            "version: 1\nrules:\n  - id: a\n    effect: allow\n    time: {timezone: Mars/X}\n",
            "unknown",
        ),
        (
            "version: 1\nrules:\n  - id: a\n    effect: allow\n    time: {start: '8am'}\n",
            "HH:MM",
        ),
        (
            "version: 1\nrules:\n  - id: a\n    effect: allow\n    device: {required: false, "
            "enrolled: true}\n",
            "contradicts",
        ),
        (
            "version: 1\nrules:\n  - id: a\n    effect: allow\n    anonymous: true\n"
            "    groups: [x]\n",
            "contradicts",
        ),
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n  - id: a\n    effect: deny\n", "dup"),
        ("version: 1\nrules: [\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n    groups: []\n", "non-empty"),
        ("version: 1\nrules:\n  - id: a\n    effect: allow\n    claims: {}\n", "claims"),
        ("version: 1\nrules:\n  - just-a-string\n", "must be a mapping"),
    ],
)
def test_rejects_with_location(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "p")
    assert fragment in str(info.value)


def test_collects_every_problem() -> None:
    text = (
        "version: 1\nrules:\n  - id: a\n    effect: nope\n  - id: b\n    effect: allow\n    x: 1\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "p")
    message = str(info.value)
    assert "p:3:" in message and "p:5:" in message


def test_empty_rules_is_valid_and_denies_everything() -> None:
    assert parse_policy("version: 1\nrules: []\n").rules == ()


def test_load_policy_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    assert load_policy(path).source == str(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
