"""Disaster-recovery drills: inject (optionally) an incident, recover into scratch, verify,
time every phase and compare RTO/RPO achieved with the policy's objectives.

Scenarios (:data:`SCENARIOS`):

- ``site-loss``: the primary site is gone; restore the latest snapshot from another site.
  With ``inject`` the primary's repository is really deleted, then re-seeded from the survivor.
- ``ransomware``: source files were overwritten; restore the last snapshot taken at or before
  the incident time. With ``inject`` the ``path`` sources are overwritten with random bytes.
- ``corrupted-object``: a pack is damaged at one site; ``verify --read-data`` every site, repair
  from a healthy one, then restore. With ``inject`` one byte of a pack at the second site flips.
- ``es-index-loss``: restore every ``elasticsearch`` source through the snapshot API and compare
  document counts with those recorded at backup time. With ``inject`` the indices are deleted
  first and restored under their own names; otherwise restored under a ``drill-`` prefix.
- ``soc-db-loss``: restore every ``sqlite`` source into scratch; ``integrity_check`` and row
  counts must equal those recorded. With ``inject`` the database file is deleted, then put back.

RTO achieved = the wall-clock time of the recovery phases (everything after the injection).
RPO achieved = incident time - time of the restore point that was restored and verified.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backup import elastic, service, sources, sync
from backup.archiver import iter_nodes
from backup.keys import now_iso
from backup.policy import Policy, Site
from backup.repository import Repository
from backup.targets.base import Target
from tulou.contracts import drill as drill_record
from tulou.errors import InputError, NotFoundError, TulouError, VerificationError

SCENARIOS = ("site-loss", "ransomware", "corrupted-object", "es-index-loss", "soc-db-loss")


class Drill:
    def __init__(
        self,
        policy: Policy,
        passphrase: str,
        scenario: str,
        scratch: Path,
        *,
        inject: bool = False,
        incident_time: datetime | None = None,
    ) -> None:
        if scenario not in SCENARIOS:
            raise InputError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.policy, self.passphrase, self.scenario = policy, passphrase, scenario
        self.scratch, self.inject = scratch, inject
        self.incident = incident_time
        self.phases: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.restore_point: dict[str, Any] | None = None
        self.recovery_seconds = 0.0

    @contextlib.contextmanager
    def phase(self, name: str, *, recovery: bool = True) -> Iterator[dict[str, Any]]:
        detail: dict[str, Any] = {}
        start = time.perf_counter()
        entry: dict[str, Any] = {
            "name": name,
            "ok": False,
            "detail": detail,
            "counts_toward_rto": recovery,
        }
        self.phases.append(entry)
        try:
            yield detail
            entry["ok"] = True
        finally:
            seconds = round(time.perf_counter() - start, 4)
            entry["seconds"] = seconds
            if recovery:
                self.recovery_seconds += seconds

    def check(self, name: str, expected: Any, actual: Any) -> None:
        self.checks.append(
            {"name": name, "ok": expected == actual, "expected": expected, "actual": actual}
        )

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = now_iso()
        # Undeclared, the incident is the drill's start: taken now, before any phase (and so
        # before `finished`), and the RPO below is measured from this same instant.
        if self.incident is None:
            self.incident = datetime.now(UTC)
        incident = self.incident
        error = None
        self.scratch.mkdir(parents=True, exist_ok=True)
        try:
            getattr(self, "_" + self.scenario.replace("-", "_"))()
        except TulouError as exc:
            error = f"{type(exc).__name__}: {exc}"
        objectives = self.policy.objectives
        rpo = None
        if self.restore_point is not None:
            point = datetime.fromisoformat(self.restore_point["time"].replace("Z", "+00:00"))
            rpo = round((incident - point).total_seconds(), 3)
        rto_met = error is None and self.recovery_seconds <= objectives.rto_seconds
        rpo_met = rpo is not None and rpo <= objectives.rpo_seconds
        failed = error is not None or not all(c["ok"] for c in self.checks) or not self.checks
        outcome = "failed" if failed else ("passed" if rto_met and rpo_met else "missed_objective")
        return {
            "drill_id": secrets.token_hex(16),
            "scenario": self.scenario,
            "injected": self.inject,
            "sites": [s.name for s in self.policy.sites],
            "started": started,
            "finished": now_iso(),
            "incident_time": incident.isoformat(),
            "restore_point": self.restore_point,
            "phases": self.phases,
            "checks": self.checks,
            "rto": {
                "objective_seconds": objectives.rto_seconds,
                "achieved_seconds": round(self.recovery_seconds, 3),
                "met": rto_met,
            },
            "rpo": {
                "objective_seconds": objectives.rpo_seconds,
                "achieved_seconds": rpo,
                "met": rpo_met,
            },
            "outcome": outcome,
            "error": error,
        }

    # -- shared steps -----------------------------------------------------------------------

    def _open(self, site: Site) -> Repository:
        return Repository.open(service.open_site(site), self.passphrase)

    def _restore_point(self, site: Site) -> str:
        """The last snapshot at ``site`` taken at or before the incident time."""
        repo = self._open(site)
        try:
            headers = repo.snapshots()
            if self.incident is not None:
                headers = [h for h in headers if h.when <= self.incident]
            if not headers:
                raise NotFoundError(f"no snapshot at {site.name} before the incident")
            header = headers[-1]
        finally:
            repo.target.close()
        self.restore_point = {
            "snapshot": header.snapshot_id,
            "time": header.time,
            "site": site.name,
        }
        return header.snapshot_id

    def _restore(self, site: Site, include: str | None = None) -> tuple[Path, dict[str, Any]]:
        with self.phase("locate restore point") as detail:
            snapshot = self._restore_point(site)
            detail.update(self.restore_point or {})
        dest = self.scratch / f"restore-{secrets.token_hex(4)}"
        with self.phase("restore") as detail:
            result = service.restore(
                self.policy, site, self.passphrase, snapshot=snapshot, dest=dest, include=include
            )
            detail.update({k: result[k] for k in ("files", "bytes", "blobs_verified")})
        with self.phase("verify hashes") as detail:
            # The restore itself refuses any blob whose GCM tag or keyed-SM3 id fails; this
            # adds the structure check: signatures, indexes, every tree and blob reference.
            checked = service.verify(self.policy, site, self.passphrase)
            detail.update(blobs_verified=result["blobs_verified"], structure=checked["ok"])
            self.check(
                f"{site.name}: snapshot signatures, indexes and trees verify", [], checked["errors"]
            )
        return dest, result["sources"]

    def _in_snapshot(self, name: str) -> dict[str, int]:
        """Files and bytes the restore point's tree holds under source ``name``: what a
        restore of it must put on disk (counted from the tree, not from the restore)."""
        point = self.restore_point or {}
        repo = self._open(self.policy.site(point["site"]))
        try:
            body = repo.snapshot_body(repo.find_snapshot(point["snapshot"]))
            files = size = 0
            for rel, node in iter_nodes(repo, str(body["tree"])):
                if node.type == "file" and (rel == name or rel.startswith(name + "/")):
                    files, size = files + 1, size + node.size
            return {"files": files, "bytes": size}
        finally:
            repo.target.close()

    def _check_sources(self, dest: Path, metas: dict[str, Any], kinds: tuple[str, ...]) -> None:
        with self.phase("application checks") as detail:
            for name, meta in metas.items():
                if meta.get("kind") not in kinds:
                    continue
                if meta["kind"] == "sqlite":
                    facts = sources.sqlite_facts(dest / name / meta["file"])
                    self.check(f"{name}: PRAGMA integrity_check", "ok", facts["integrity"])
                    self.check(f"{name}: row counts", meta["tables"], facts["tables"])
                    detail[name] = facts
                elif meta["kind"] == "path":
                    on_disk = _regular_files(dest / name)
                    self.check(f"{name}: files restored", self._in_snapshot(name), on_disk)
                    detail[name] = on_disk

    # -- scenarios --------------------------------------------------------------------------

    def _site_loss(self) -> None:
        if len(self.policy.sites) < 2:
            raise InputError("site-loss needs a policy with at least two sites")
        primary, survivor = self.policy.sites[0], self.policy.sites[1]
        if self.inject:
            with self.phase("inject: delete the primary site", recovery=False):
                _wipe(service.open_site(primary))
        dest, metas = self._restore(survivor)
        self._check_sources(dest, metas, ("sqlite", "path"))
        if self.inject:
            with self.phase("re-seed the primary from the survivor") as detail:
                repo = self._open(survivor)
                target = service.open_site(primary)
                sync.init_site(repo, target)
                detail.update(vars(sync.copy(repo, target)))

    def _ransomware(self) -> None:
        site = self.policy.sites[0]
        paths = [s for s in self.policy.sources if s.kind == "path"]
        if self.inject:
            with self.phase("inject: overwrite source files", recovery=False) as detail:
                self.incident = self.incident or datetime.now(UTC)
                detail["files"] = sum(_ransom(s.path()) for s in paths)
        dest, metas = self._restore(site)
        self._check_sources(dest, metas, ("sqlite", "path"))
        with self.phase("compare with the sources") as detail:
            for source in paths:
                differing = _differs(source.path(), dest / source.name)
                detail[source.name] = {"files_differing_from_source": differing}
                if self.inject:
                    self.check(
                        f"{source.name}: restored copy differs from the overwritten one",
                        True,
                        differing > 0,
                    )

    def _corrupted_object(self) -> None:
        if len(self.policy.sites) < 2:
            raise InputError("corrupted-object needs a policy with at least two sites")
        damaged = self.policy.sites[1]
        if self.inject:
            with self.phase("inject: flip one byte of a pack", recovery=False) as detail:
                detail["pack"] = _flip_one(service.open_site(damaged))
        with self.phase("detect: verify --read-data at every site") as detail:
            for site in self.policy.sites:
                detail[site.name] = service.verify(
                    self.policy, site, self.passphrase, read_data=True
                )["damaged_packs"]
            bad = [s for s in self.policy.sites if detail[s.name]]
            good = [s for s in self.policy.sites if not detail[s.name]]
        if self.inject:
            self.check("the injected damage was detected", True, damaged in bad)
        if bad and not good:
            raise VerificationError("every site is damaged: nothing to repair from")
        with self.phase("repair from a healthy site") as detail:
            for site in bad:
                detail[site.name] = service.repair(self.policy, site, good[0], self.passphrase)
                self.check(f"{site.name}: verifies after repair", True, detail[site.name]["ok"])
        dest, metas = self._restore(damaged)
        self._check_sources(dest, metas, ("sqlite", "path"))

    def _es_index_loss(self) -> None:
        site = self.policy.sites[0]
        es_sources = [s for s in self.policy.sources if s.kind == "elasticsearch"]
        if not es_sources:
            raise InputError("es-index-loss needs an elasticsearch source in the policy")
        for source in es_sources:
            es = elastic.client(source.options)
            if self.inject:
                with self.phase(f"inject: delete {source.name} indices", recovery=False) as d:
                    d["deleted"] = list(es.counts([str(i) for i in source.options["indices"]]))
                    for index in d["deleted"]:
                        es.call("DELETE", f"/{index}")
            dest, metas = self._restore(site, include=source.name)
            meta = metas[source.name]
            restore_dir = Path(
                str(
                    source.options.get("restore_path", f"{source.options['repository_path']}-drill")
                )
            )
            with self.phase(f"restore {source.name} into Elasticsearch") as detail:
                if restore_dir.exists():
                    shutil.rmtree(restore_dir)
                shutil.copytree(dest / source.name, restore_dir)
                prefix = "" if self.inject else "drill-"
                counts = elastic.restore(
                    es,
                    str(restore_dir),
                    meta,
                    rename_prefix=prefix,
                    repository=f"tulou-drill-{secrets.token_hex(3)}",
                )
                detail["counts"] = counts
            with self.phase("application checks"):
                expected = {f"{prefix}{k}": v for k, v in meta["indices"].items()}
                self.check(f"{source.name}: event counts per index", expected, counts)
            if prefix:
                for index in counts:
                    es.call("DELETE", f"/{index}", ok404=True)

    def _soc_db_loss(self) -> None:
        site = self.policy.sites[0]
        dbs = [s for s in self.policy.sources if s.kind == "sqlite"]
        if not dbs:
            raise InputError("soc-db-loss needs a sqlite source (the SOC database) in the policy")
        if self.inject:
            with self.phase("inject: delete the SOC database", recovery=False):
                for source in dbs:
                    source.path().unlink()
        dest, metas = self._restore(site)
        self._check_sources(dest, metas, ("sqlite",))
        if self.inject:
            with self.phase("put the database back"):
                for source in dbs:
                    shutil.copy2(dest / source.name / metas[source.name]["file"], source.path())
                    facts = sources.sqlite_facts(source.path())
                    self.check(
                        f"{source.name}: live database after recovery",
                        metas[source.name]["tables"],
                        facts["tables"],
                    )


def _regular_files(root: Path) -> dict[str, int]:
    """Regular files (each name of a hard link counts) and their bytes below ``root``."""
    files = size = 0
    if root.is_file() and not root.is_symlink():
        return {"files": 1, "bytes": root.stat().st_size}
    for folder, _, names in os.walk(os.fsencode(root)):
        for entry in names:
            st = os.lstat(os.path.join(folder, entry))
            if stat.S_ISREG(st.st_mode):
                files, size = files + 1, size + st.st_size
    return {"files": files, "bytes": size}


def _wipe(target: Target) -> None:
    for kind in ("snapshots", "index", "data", "keys", "locks", "config"):
        for info in list(target.list(kind)):
            target.remove(kind, info.name)


def _flip_one(target: Target) -> str:
    packs = sorted(target.list("data"), key=lambda i: i.name)
    if not packs:
        raise NotFoundError("no pack to damage")
    info = packs[0]
    data = bytearray(target.load("data", info.name))
    data[len(data) // 2] ^= 0x01
    target.remove("data", info.name)
    target.save("data", info.name, bytes(data))
    return info.name


def _ransom(root: Path) -> int:
    count = 0
    for path in [root] if root.is_file() else sorted(root.rglob("*")):
        if path.is_file():
            path.write_bytes(secrets.token_bytes(max(16, min(path.stat().st_size, 4096))))
            count += 1
    return count


def _differs(source: Path, restored: Path) -> int:
    if source.is_file():
        return int(not restored.is_file() or restored.read_bytes() != source.read_bytes())
    differing = 0
    for path in restored.rglob("*"):
        twin = source / path.relative_to(restored)
        if path.is_file() and (not twin.is_file() or twin.read_bytes() != path.read_bytes()):
            differing += 1
    return differing


def run_and_sign(drill: Drill) -> dict[str, Any]:
    record = drill.run()
    repo = Repository.open(service.open_site(_reachable(drill.policy)), drill.passphrase)
    return drill_record.seal(record, repo.keys.sign_key)


def _reachable(policy: Policy) -> Site:
    for site in policy.sites:
        with contextlib.suppress(TulouError):
            target = service.open_site(site)
            target.stat("config", "config")
            return site
    raise NotFoundError("no site holds the repository: cannot sign the drill record")
