"""Clause judgement: every rule reaches every status it can, GB/T 28448 combination, ceilings."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.catalogue import Ceiling, Check, Clause, load_catalogue, parse_catalogue
from compliance.evidence import Evidence, EvidenceBag
from compliance.judge import MET, NA, NOT_MET, PARTIAL, RULES, combine, judge_all, judge_clause
from tulou import i18n
from tulou.errors import ConfigError


def bag(**facts: dict[str, Any]) -> EvidenceBag:
    return EvidenceBag(
        Evidence(key.replace("__", "."), "test", key, value) for key, value in facts.items()
    )


def clause(*checks: Check, ceiling: Ceiling | None = None) -> Clause:
    return Clause(
        "x",
        "GB/T 22239-2019",
        "8.1.4.9",
        "c",
        "数据备份恢复",
        "Backup",
        "unconfirmed",
        "n",
        "r",
        "e",
        checks,
        ceiling,
    )


def status(check: Check, evidence: EvidenceBag) -> str:
    return judge_clause(clause(check), evidence).status


SHARE = Check(
    "share", {"evidence": "gateway.mtls", "field": "route_share", "met": 1.0, "partial": 0.5}
)


@pytest.mark.parametrize(
    ("share", "expected"), [(1.0, MET), (0.6, PARTIAL), (0.2, NOT_MET), (None, NOT_MET)]
)
def test_share(share: float | None, expected: str) -> None:
    assert status(SHARE, bag(gateway__mtls={"route_share": share})) == expected


def test_unavailable_evidence_is_not_met_with_the_reason() -> None:
    evidence = EvidenceBag(
        [Evidence.unavailable("gateway.mtls", "gateway", "audit log unreadable")]
    )
    judged = judge_clause(clause(SHARE), evidence)
    assert judged.status == NOT_MET
    assert "audit log unreadable" in judged.reason
    assert judge_clause(clause(SHARE), EvidenceBag()).status == NOT_MET


@pytest.mark.parametrize(("value", "expected"), [(0, MET), (100, PARTIAL), (500, NOT_MET)])
def test_at_most(value: int, expected: str) -> None:
    check = Check(
        "at_most", {"evidence": "soc.response", "field": "mtta_minutes", "met": 60, "partial": 240}
    )
    assert status(check, bag(soc__response={"mtta_minutes": value})) == expected


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([("k1", "SM2", True)], MET),
        ([("k1", "SM2", True), ("tls", "RSA", False)], PARTIAL),
        ([("tls", "RSA", False)], NOT_MET),
        ([], NOT_MET),
    ],
)
def test_sm_only(items: list[tuple[str, str, bool]], expected: str) -> None:
    inventory = [
        {"id": i, "algorithm": a, "usage": "transport", "sm_series": sm} for i, a, sm in items
    ]
    inventory.append({"id": "other", "algorithm": "RSA", "usage": "storage", "sm_series": False})
    check = Check("sm_only", {"usages": ["transport"]})
    assert status(check, bag(crypto__inventory={"items": inventory})) == expected


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"reportable": 0, "on_time": 0}, NA),
        ({"reportable": 2, "on_time": 2}, MET),
        ({"reportable": 2, "on_time": 1}, PARTIAL),
        ({"reportable": 2, "on_time": 0}, NOT_MET),
    ],
)
def test_incident_reporting(facts: dict[str, int], expected: str) -> None:
    assert status(Check("incident_reporting", {}), bag(soc__incidents=facts)) == expected


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"ok": True, "checked": 5}, MET),
        ({"ok": True, "checked": 0}, NOT_MET),  # an empty chain proves nothing
        ({"ok": False, "checked": 5, "problems": [{"message": "record 2 was changed"}]}, NOT_MET),
    ],
)
def test_audit_chain(facts: dict[str, Any], expected: str) -> None:
    assert status(Check("audit_chain", {}), bag(soc__audit_chain=facts)) == expected


@pytest.mark.parametrize(
    ("held", "configured", "expected"),
    [
        (200, None, MET),
        (40, 365, PARTIAL),
        (40, 30, NOT_MET),
        (None, 365, NOT_MET),
    ],
)
def test_retention(held: float | None, configured: int | None, expected: str) -> None:
    facts = {"days_held": held, "configured_days": configured, "required_days": 183}
    assert status(Check("retention", {}), bag(detect__retention=facts)) == expected


def _site(verified: bool, age: float, snapshot_age: float | None = 1) -> dict[str, Any]:
    return {"name": "s", "verified": verified, "age_hours": age, "snapshot_age_hours": snapshot_age}


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        ([_site(True, 2), _site(True, 3)], MET),
        ([_site(True, 2), _site(True, 300)], PARTIAL),
        ([_site(False, 2), _site(True, 300)], NOT_MET),
        # Verified recently, but the newest snapshot is old (backups stopped) or unknown.
        ([_site(True, 2, 100), _site(True, 2, None)], NOT_MET),
    ],
)
def test_backups(sites: list[dict[str, Any]], expected: str) -> None:
    check = Check("backups", {"min_sites": 2, "max_age_hours": 48})
    assert status(check, bag(backup__sites={"sites": sites})) == expected


def _drill(ok: bool, outcome: str = "passed", verified: bool = True) -> dict[str, Any]:
    return {
        "id": "d",
        "signature_ok": True,
        "rto_met": True,
        "rpo_met": ok,
        "outcome": outcome,
        "verified": verified,
    }


@pytest.mark.parametrize(
    ("drills", "expected"),
    [
        ([_drill(True)], MET),
        ([_drill(True), _drill(False)], PARTIAL),
        ([_drill(False)], NOT_MET),
        # On time, but a check failed: a drill that did not restore what it should is no proof.
        ([_drill(True, "failed", verified=False)], NOT_MET),
        ([], NOT_MET),
    ],
)
def test_drills(drills: list[dict[str, Any]], expected: str) -> None:
    assert status(Check("drills", {}), bag(backup__drills={"drills": drills})) == expected


@pytest.mark.parametrize(
    ("ids", "expected"), [(["T1566", "T1204.002"], MET), (["T1566"], PARTIAL), ([], NOT_MET)]
)
def test_techniques(ids: list[str], expected: str) -> None:
    check = Check("techniques", {"techniques": ["T1566", "T1204"], "met": 1.0, "partial": 0.5})
    assert status(check, bag(detect__attack={"technique_ids": ids})) == expected


@pytest.mark.parametrize(("value", "expected"), [(True, MET), (False, NOT_MET), (None, NOT_MET)])
def test_flag(value: bool | None, expected: str) -> None:
    check = Check("flag", {"evidence": "gateway.policy", "field": "changes_attributed"})
    assert status(check, bag(gateway__policy={"changes_attributed": value})) == expected


def test_gbt28448_combination() -> None:
    assert combine([MET, MET]) == MET
    assert combine([NOT_MET, NOT_MET]) == NOT_MET
    assert combine([MET, NOT_MET]) == PARTIAL
    assert combine([NA, MET]) == MET
    assert combine([NA, NA]) == NA


def test_ceiling_caps_met_but_not_worse() -> None:
    cap = Ceiling(PARTIAL, "boot chain outside Tulou")
    good = bag(gateway__mtls={"route_share": 1.0})
    capped = judge_clause(clause(SHARE, ceiling=cap), good)
    assert capped.status == PARTIAL
    assert "boot chain outside Tulou" in capped.reason
    bad = bag(gateway__mtls={"route_share": 0.0})
    assert judge_clause(clause(SHARE, ceiling=cap), bad).status == NOT_MET


def test_shipped_catalogue_loads_and_names_known_rules() -> None:
    catalogue = load_catalogue(rules=RULES)
    ids = [c.id for c in catalogue.clauses]
    assert len(ids) == len(set(ids)) >= 30
    numbers = {c.number for c in catalogue.clauses if c.standard == "GB/T 22239-2019"}
    required = {
        "8.1.2.2",
        *(f"8.1.3.{n}" for n in range(1, 6)),
        *(f"8.1.4.{n}" for n in range(1, 10)),
        *(f"8.1.5.{n}" for n in range(1, 5)),
        "8.1.10.9",
        "8.1.10.11",
        "8.1.10.12",
        "8.1.10.13",
    }
    assert required <= numbers
    assert {c.standard for c in catalogue.clauses} == {"GB/T 22239-2019", "GB/T 39786-2021"}
    assert all(c.title_zh and c.title_en and c.checks for c in catalogue.clauses)


def test_catalogue_problems_are_collected() -> None:
    data = {
        "standards": {"S": {"title_zh": "标", "title_en": "S", "level": "3"}},
        "clauses": [
            {"id": "a", "standard": "S"},
            {
                "id": "b",
                "standard": "T",
                "number": "1",
                "control": "c",
                "title_zh": "z",
                "title_en": "e",
                "confirmation": "maybe",
                "confirmation_note": "n",
                "requirement": "r",
                "requirement_zh": "要求",
                "evidenced_by": "e",
                "evidenced_by_zh": "证据",
                "checks": [
                    {"rule": "nope"},
                    {"rule": "share", "what": "w"},
                    {"rule": "share", "minimum": {"field": "x", "n": 0}},
                ],
            },
        ],
    }
    with pytest.raises(ConfigError) as caught:
        parse_catalogue(data, rules=RULES)
    message = str(caught.value)
    for fragment in (
        "missing 'number'",
        "unknown standard 'T'",
        "confirmation must be",
        "unknown rule 'nope'",
        "has 'what' but no 'what_zh'",
        "minimum needs 'n'",
        "minimum needs 'what' and 'what_zh'",
    ):
        assert fragment in message


MTTR = Check(
    "at_most",
    {
        "evidence": "soc.response",
        "field": "mttr_minutes",
        "met": 1440,
        "partial": 4320,
        "what": "mean time to resolve (minutes)",
        "what_zh": "平均处置时间（分钟）",
        "minimum": {
            "field": "resolved",
            "n": 10,
            "share_of": "alerts",
            "share": 0.8,
            "what": "resolved alerts",
            "what_zh": "已处置的告警",
        },
    },
)


@pytest.mark.parametrize(
    ("resolved", "alerts", "expected", "insufficient"),
    [
        (1, 33, NOT_MET, True),  # the demo: one resolved alert out of 33 says nothing
        (9, 9, NOT_MET, True),  # all resolved, but fewer than ten
        (20, 33, NOT_MET, True),  # ten or more, but only 61 % of the period's alerts
        (30, 33, MET, False),
    ],
)
def test_a_judgement_needs_its_minimum_evidence(
    resolved: int, alerts: int, expected: str, insufficient: bool
) -> None:
    facts = {"mttr_minutes": 30.0, "resolved": resolved, "alerts": alerts}
    judged = judge_clause(clause(MTTR), bag(soc__response=facts))
    assert (judged.status, judged.items[0].insufficient) == (expected, insufficient)
    if insufficient:
        assert judged.reason.startswith("证据不足")
        with i18n.using("en"):
            english = judge_clause(clause(MTTR), bag(soc__response=facts)).reason
        assert english.startswith("insufficient evidence") and "resolved alerts" in english


def test_reasons_are_chinese_by_default_and_english_on_request() -> None:
    facts = {"mttr_minutes": 30.0, "resolved": 30, "alerts": 33}
    chinese = judge_clause(clause(MTTR), bag(soc__response=facts)).reason
    assert "平均处置时间（分钟）" in chinese and "≤ 1440 为符合" in chinese
    with i18n.using("en"):
        english = judge_clause(clause(MTTR), bag(soc__response=facts)).reason
    assert english == "mean time to resolve (minutes): 30; met at <= 1440, partly at <= 4320"


def _tampered_bag(ok: bool) -> EvidenceBag:
    chain = {"ok": ok, "checked": 12, "problems": [] if ok else [{"message": "record 7 changed"}]}
    return EvidenceBag(
        [
            Evidence("soc.audit_chain", "soc", "chain", chain, vouched_by="soc.audit_chain"),
            Evidence(
                "soc.roles", "soc", "roles", {"distinct_roles": 4}, vouched_by="soc.audit_chain"
            ),
            Evidence("gateway.decisions", "gateway", "d", {"total": 50, "default_deny": True}),
        ]
    )


def test_a_tampered_audit_chain_makes_every_dependent_clause_not_met() -> None:
    """Before: a tampered SOC database still rated audit clauses partially met (the gateway half
    held). Now every clause resting on the chain or on facts it vouches for is not met."""
    roles = Check("at_least", {"evidence": "soc.roles", "field": "distinct_roles", "met": 3,
                               "partial": 2, "what": "roles", "what_zh": "角色"})  # fmt: skip
    audited = Check("at_least", {"evidence": "gateway.decisions", "field": "total", "met": 1,
                                 "partial": 1, "what": "decisions", "what_zh": "决策"})  # fmt: skip
    deny = Check("flag", {"evidence": "gateway.decisions", "field": "default_deny",
                          "what": "deny", "what_zh": "默认拒绝"})  # fmt: skip
    chained = clause(Check("audit_chain", {}), audited)
    separated = clause(deny, roles)
    gateway_only = clause(audited)
    catalogue = load_catalogue(rules=RULES)
    catalogue = type(catalogue)(catalogue.standards, (chained, separated, gateway_only))

    intact = judge_all(catalogue, _tampered_bag(ok=True))
    assert [j.status for j in intact] == [MET, MET, MET]
    broken = judge_all(catalogue, _tampered_bag(ok=False))
    assert [j.status for j in broken] == [NOT_MET, NOT_MET, MET]
    assert all(j.tainted for j in broken[:2]) and not broken[2].tainted
    assert "record 7 changed" in broken[1].reason and "完整性校验" in broken[1].reason


def test_the_design_note_lists_every_clause_and_its_minimum() -> None:
    from pathlib import Path

    note = (Path(__file__).resolve().parents[3] / "docs" / "reports.md").read_text()
    for item in load_catalogue(rules=RULES).clauses:
        row = next((line for line in note.splitlines() if f"`{item.id}`" in line), "")
        assert row, item.id
        for check in item.checks:
            minimum = check.params.get("minimum")
            if minimum:
                assert f"≥ {minimum['n']} {minimum['what']}" in row, item.id
