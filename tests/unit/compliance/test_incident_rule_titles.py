"""Finding 4 (issue 19): the incident report names its alerts' rules by title, not by UUID."""

from __future__ import annotations

from datetime import UTC, datetime

from compliance.collectors.soc import incident_detail
from soc.db import Database
from soc.models import Alert, Case, RuleInfo, User

RULE = "3f2a9c1e-5b7d-4e0a-9c3b-1d2e3f4a5b6c"


def test_alerts_carry_the_rule_title_from_the_catalogue(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'soc.db'}")
    db.upgrade()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with db.write() as session:
        session.add(User(username="ana", role="analyst", password_hash="x"))
        session.add(RuleInfo(rule_id=RULE, title="SSH 暴力破解", techniques=["attack.t1110"]))
        session.flush()
        case = Case(
            title="c",
            category="network_attack",
            grade="一般",
            system_class="other",
            detected_at=t0,
            created_by=1,
        )
        session.add(case)
        session.flush()
        for rule_id, title in ((RULE, "alert one"), ("not-in-catalogue", "alert two")):
            session.add(
                Alert(
                    dedup_key=title,
                    rule_id=rule_id,
                    rule_hash="h" * 64,
                    title=title,
                    severity="high",
                    severity_rank=3,
                    first_seen=t0,
                    last_seen=t0,
                    case_id=case.id,
                )
            )
    with db.read() as session:
        record = incident_detail(session, 1, t0)
    db.dispose()
    assert record is not None
    assert [(a["rule_id"], a["rule_title"]) for a in record["alerts"]] == [
        (RULE, "SSH 暴力破解"),
        ("not-in-catalogue", "alert two"),  # unknown rule: the alert's own title
    ]
