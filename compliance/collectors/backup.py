"""Backup and drill evidence, read through the formats the backup component writes
(:mod:`tulou.contracts.backup_status`, :mod:`tulou.contracts.drill`; never backup's code).

- ``backup.sites``   per site: the newest snapshot, the newest verification and their ages
                     (``<data_dir>/backup/sites.json``, written by ``tulou backup run/verify``)
- ``backup.drills``  drills finished in the period: outcome, checks, RTO/RPO achieved against
                     objective, and the SM2 signature of each record checked (pinned to
                     ``drill_key`` if given), from ``<data_dir>/backup/drills`` (drill run)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compliance.evidence import Evidence, excerpt, file_sm3
from compliance.i18n import _
from compliance.period import Period
from crypto.sm2 import SM2PublicKey
from crypto.sm3 import sm3
from tulou.contracts import backup_status
from tulou.contracts import drill as drill_record
from tulou.errors import InputError, VerificationError

KEYS = ("backup.sites", "backup.drills")


def read_drill(path: Path, pinned: SM2PublicKey | None = None) -> dict[str, Any]:
    """One drill record as the report shows it, with ``signature_ok`` / ``signature_problem``.

    Raises :class:`InputError` when the file is not a drill record at all.
    """
    document = drill_record.read(path)
    record = drill_record.parse(document)
    problem = ""
    try:
        drill_record.verify(
            document, SM2PublicKey.from_der, pinned.fingerprint() if pinned else None
        )
    except VerificationError as exc:
        problem = exc.message
    rto, rpo = record.rto, record.rpo
    return {
        "id": record.drill_id,
        "scenario": record.scenario,
        "outcome": record.outcome,
        "at": record.finished.isoformat(),
        "started_at": record.started.isoformat(),
        "injected": record.injected,
        "site": record.restore_point.site if record.restore_point else None,
        "snapshot": record.restore_point.snapshot if record.restore_point else None,
        "verified": record.checks_total > 0 and record.checks_passed == record.checks_total,
        "checks_passed": record.checks_passed,
        "checks_total": record.checks_total,
        "error": record.error,
        "rto_objective_s": rto.objective_seconds,
        "rto_achieved_s": rto.achieved_seconds,
        "rto_met": rto.met,
        "rpo_objective_s": rpo.objective_seconds,
        "rpo_achieved_s": rpo.achieved_seconds,
        "rpo_met": rpo.met,
        "signer": record.signer_fingerprint,
        "signature_ok": not problem,
        "signature_problem": problem,
        "record": path.name,
        "record_sm3": sm3(path.read_bytes()).hex(),
    }


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
            name = self.sites.name if self.sites else "sites.json"
            return Evidence.unavailable(
                "backup.sites", self.id, _("no backup site status ({name})").format(name=name)
            )
        try:
            status = backup_status.load(self.sites)
        except InputError as exc:
            return Evidence.unavailable("backup.sites", self.id, exc.message)
        as_of = min(self.now(), period.end)

        def hours(moment: datetime | None) -> float | None:
            return None if moment is None else round((as_of - moment).total_seconds() / 3600, 1)

        sites = []
        for site in status.sites:
            verified = site.last_verified
            sites.append(
                {
                    "name": site.name,
                    "last_snapshot": site.last_snapshot_id,
                    "last_snapshot_at": site.last_snapshot_at.isoformat()
                    if site.last_snapshot_at
                    else None,
                    "snapshot_age_hours": hours(site.last_snapshot_at),
                    "verified_at": verified.at.isoformat() if verified else None,
                    "verified": verified is not None and verified.ok,
                    "read_data": verified is not None and verified.read_data,
                    "age_hours": hours(verified.at if verified else None),
                }
            )
        facts = {
            "sites": sites,
            "site_count": len(sites),
            "as_of": as_of.isoformat(),
            "cipher": status.cipher,
            "digest": status.digest,
        }
        digest = file_sm3(self.sites)
        shown = tuple(
            excerpt(
                _("site {name}").format(name=site["name"]),
                self.sites.name,
                json.dumps(site, ensure_ascii=False, indent=1),
                source_sm3=digest,
            )
            for site in sites
        )
        return Evidence(
            "backup.sites", self.id, "Backup sites and verified snapshots", facts, shown
        )

    def _drills(self, period: Period) -> Evidence:
        if self.drills is None or not self.drills.is_dir():
            name = self.drills.name if self.drills else "drills"
            return Evidence.unavailable(
                "backup.drills", self.id, _("no drill records ({name})").format(name=name)
            )
        drills, problems = [], []
        for path in drill_record.files(self.drills):
            try:
                drill = read_drill(path, self.drill_key)
            except InputError as exc:
                problems.append(f"{path.name}: {exc.message}")
                continue
            if period.contains(datetime.fromisoformat(drill["at"])):
                drills.append(drill)
        facts = {"drills": drills, "count": len(drills), "unreadable": problems}
        shown = tuple(
            excerpt(
                _("drill {id}").format(id=d["id"][:12]),
                d["record"],
                json.dumps(
                    {k: d[k] for k in _DRILL_SHOWN}, ensure_ascii=False, indent=1, default=str
                ),
                source_sm3=d["record_sm3"],
            )
            for d in drills
        )
        return Evidence("backup.drills", self.id, "Disaster-recovery drills", facts, shown)


#: The fields of a drill record bundled into the report (the rest stays in the record file).
_DRILL_SHOWN = (
    "id",
    "scenario",
    "outcome",
    "started_at",
    "at",
    "site",
    "snapshot",
    "checks_passed",
    "checks_total",
    "rto_objective_s",
    "rto_achieved_s",
    "rpo_objective_s",
    "rpo_achieved_s",
    "signer",
    "signature_ok",
)
