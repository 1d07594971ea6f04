"""Report a failed or late drill to the SOC: one alert sent through the SOC ingest client.

The request, the token handling (a SOC service token from the environment variable the policy
names; a URL with credentials is refused) and the reading of the SOC's answer are those of
:mod:`tulou.contracts.soc_ingest`: backup never imports the SOC. A SOC that cannot be reached
or refuses the alert is reported in the drill's output, never raised: the drill record is the
source of truth.
"""

from __future__ import annotations

import os
from typing import Any

from crypto import sm3
from tulou.contracts.alert import Alert
from tulou.contracts.soc_ingest import SocIngestClient
from tulou.errors import TulouError

RULE_ID = "tulou-backup-drill"
RULE_HASH = sm3.sm3(b"tulou-backup-drill/v1: outcome != passed").hex()


def drill_alert(record: dict[str, Any]) -> Alert:
    failed = record["outcome"] == "failed"
    scenario = record["scenario"]
    return Alert(
        rule_id=RULE_ID,
        rule_hash=RULE_HASH,
        title=(
            f"DR drill {scenario} failed"
            if failed
            else f"DR drill {scenario} missed its RTO/RPO objective"
        ),
        level="high" if failed else "medium",
        event_ids=(str(record["drill_id"]),),
        dedup_key=f"backup-drill:{scenario}",
        first_seen=str(record["started"]),
        last_seen=str(record["finished"]),
        tags=("backup", "disaster-recovery"),
        description=str(record.get("error") or ""),
        fields={
            "drill.scenario": scenario,
            "drill.outcome": record["outcome"],
            "drill.rto": record["rto"],
            "drill.rpo": record["rpo"],
            "drill.signer": record["signer"]["fingerprint"],
        },
    )


def report(record: dict[str, Any], soc_url: str | None, token_env: str) -> dict[str, Any]:
    """POST an alert if the drill did not pass; return what happened (never raises)."""
    if record["outcome"] == "passed":
        return {"posted": False, "reason": "drill passed"}
    if not soc_url:
        return {"posted": False, "reason": "no SOC URL configured"}
    alert = drill_alert(record)
    try:
        sent = SocIngestClient(soc_url, os.environ.get(token_env), timeout=15).send([alert])
    except TulouError as exc:
        return {"posted": False, "reason": f"{type(exc).__name__}: {exc.message}"}
    if sent.rejected:
        return {"posted": False, "reason": f"SOC refused the alert: {sent.rejected[0].error}"}
    return {"posted": True, "alert_id": alert.alert_id, "duplicate": bool(sent.duplicates)}
