"""Report a failed or late drill to the SOC: an alert POSTed to its ingest API over HTTP.

``POST {soc_url}/api/v1/alerts/ingest`` with ``{"alerts": [Alert.to_dict()]}`` and
``Authorization: Bearer <token>`` (a SOC service token from the environment variable the policy
names). backup never imports the SOC: HTTP is the contract. A SOC that cannot be reached is
reported in the drill's output, never raised: the drill record is the source of truth.
"""

from __future__ import annotations

import json
import os
from typing import Any

from crypto import sm3
from tulou.alerts import Alert

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
    # Imported here: urllib.request costs ~50 ms of every backup command's start-up.
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    payload = json.dumps({"alerts": [drill_alert(record).to_dict()]}).encode()
    request = urllib.request.Request(  # noqa: S310 - an operator-configured http(s) URL
        f"{soc_url.rstrip('/')}/api/v1/alerts/ingest", data=payload, method="POST"
    )
    request.add_header("Content-Type", "application/json")
    token = os.environ.get(token_env)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return {"posted": True, "status": response.status}
    except urllib.error.HTTPError as exc:
        return {"posted": False, "status": exc.code, "reason": f"SOC answered HTTP {exc.code}"}
    except OSError as exc:
        return {"posted": False, "reason": f"SOC unreachable: {exc}"}
