"""Clause judgement: every rule reaches every status it can, GB/T 28448 combination, ceilings."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.catalogue import Ceiling, Check, Clause, load_catalogue, parse_catalogue
from compliance.evidence import Evidence, EvidenceBag
from compliance.judge import MET, NA, NOT_MET, PARTIAL, RULES, combine, judge_clause
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
        ({"ok": True, "checked": 0}, PARTIAL),
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
                "evidenced_by": "e",
                "checks": [{"rule": "nope"}],
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
    ):
        assert fragment in message
