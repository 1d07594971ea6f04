"""Backup and drill evidence, read from the files the backup component writes (never its code).

- ``backup.sites``   per site: the newest snapshot, the newest verification and its age
                     (``sites.json``, written by ``tulou backup`` after each verify)
- ``backup.drills``  drills finished in the period: RTO/RPO achieved against objective, and the
                     SM2 signature of each drill record checked (pinned to ``drill_key`` if given)

Drill record (one JSON file each)::

    {"record": {"id", "started_at", "finished_at", "site", "snapshot", "verified",
                "rto_objective_s", "rto_achieved_s", "rpo_objective_s", "rpo_achieved_s"},
     "signature": {"algorithm": "SM2-SM3", "public_key": PEM, "value": BASE64-DER}}

The signature covers the ``record`` object serialised as compact, key-sorted UTF-8 JSON.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crypto.sm2 import SM2PublicKey
from soc.reports.evidence import Evidence, EvidenceLink
from soc.reports.period import Period
from tulou.errors import InputError, VerificationError
from tulou.events import parse_timestamp

KEYS = ("backup.sites", "backup.drills")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def read_drill(path: Path, pinned: SM2PublicKey | None = None) -> dict[str, Any]:
    """One drill record, flattened, with ``signature_ok`` and (when bad) ``signature_problem``.

    Raises :class:`InputError` when the file is not a drill record at all.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = data["record"]
        signature = data.get("signature") or {}
        drill = {
            "id": str(record["id"]),
            "at": str(record.get("finished_at") or record.get("started_at")),
            "site": record.get("site"),
            "snapshot": record.get("snapshot"),
            "verified": record.get("verified") is True,
            "rto_objective_s": float(record["rto_objective_s"]),
            "rto_achieved_s": float(record["rto_achieved_s"]),
            "rpo_objective_s": float(record["rpo_objective_s"]),
            "rpo_achieved_s": float(record["rpo_achieved_s"]),
            "href": f"{path.resolve().as_uri()}",
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a drill record: {exc}", location=str(path)) from None
    drill["rto_met"] = drill["rto_achieved_s"] <= drill["rto_objective_s"]
    drill["rpo_met"] = drill["rpo_achieved_s"] <= drill["rpo_objective_s"]
    problem = ""
    try:
        signer = SM2PublicKey.from_pem(str(signature["public_key"]).encode())
        if pinned is not None and signer != pinned:
            problem = "signed by a key other than the pinned drill key"
        else:
            signer.verify(
                base64.b64decode(str(signature["value"]), validate=True), _canonical(record)
            )
        drill["signer"] = signer.fingerprint()
    except (KeyError, ValueError, InputError):
        problem = "no readable signature"
    except VerificationError:
        problem = "the SM2 signature does not verify (record changed?)"
    drill["signature_ok"] = not problem
    drill["signature_problem"] = problem
    return drill


class BackupCollector:
    id: str = "backup"
    keys: tuple[str, ...] = KEYS

    def __init__(
        self,
        sites: Path | None,
        drills: Path | None,
        *,
        drill_key: SM2PublicKey | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sites = sites
        self.drills = drills
        self.drill_key = drill_key
        self.now = now

    def collect(self, period: Period) -> list[Evidence]:
        return [self._sites(period), self._drills(period)]

    def _sites(self, period: Period) -> Evidence:
        if self.sites is None or not self.sites.is_file():
            return Evidence.unavailable(
                "backup.sites", self.id, f"no backup site status at {self.sites}"
            )
        try:
            data = json.loads(self.sites.read_text(encoding="utf-8"))
            raw_sites = data["sites"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return Evidence.unavailable("backup.sites", self.id, f"{self.sites}: {exc}")
        as_of = min(self.now(), period.end)
        sites = []
        for raw in raw_sites:
            verified = raw.get("last_verified") or {}
            snapshot = raw.get("last_snapshot") or {}
            age = None
            if verified.get("at"):
                age = round(
                    (as_of - parse_timestamp(str(verified["at"]))).total_seconds() / 3600, 1
                )
            sites.append(
                {
                    "name": raw.get("name"),
                    "last_snapshot": snapshot.get("id"),
                    "last_snapshot_at": snapshot.get("time"),
                    "verified_snapshot": verified.get("snapshot"),
                    "verified_at": verified.get("at"),
                    "verified": verified.get("ok") is True,
                    "age_hours": age,
                }
            )
        facts = {"sites": sites, "site_count": len(sites), "as_of": as_of.isoformat()}
        return Evidence(
            "backup.sites",
            self.id,
            "Backup sites and verified snapshots",
            facts,
            (EvidenceLink("site status", self.sites.resolve().as_uri()),),
        )

    def _drills(self, period: Period) -> Evidence:
        if self.drills is None or not self.drills.is_dir():
            return Evidence.unavailable(
                "backup.drills", self.id, f"no drill records at {self.drills}"
            )
        drills, problems = [], []
        for path in sorted(self.drills.glob("*.json")):
            try:
                drill = read_drill(path, self.drill_key)
            except InputError as exc:
                problems.append(str(exc))
                continue
            if period.contains(parse_timestamp(drill["at"])):
                drills.append(drill)
        facts = {"drills": drills, "count": len(drills), "unreadable": problems}
        links = tuple(EvidenceLink(d["id"], d["href"]) for d in drills)
        return Evidence("backup.drills", self.id, "Disaster-recovery drills", facts, links)
