"""Ransomware on the city file share, then the recovery drill that brings the files back.

``ransomware`` plays both halves for real, in the scenario's work directory:

1. the file share (sixty documents of four departments) is backed up with ``tulou backup`` to a
   policy of two local sites (primary, then a copy to the second), and each site is verified
   (``backup verify --read-data``: every byte read back);
2. the "ransomware" overwrites every document with ciphertext and renames it to ``*.locked``,
   leaving a note per folder; auditd on the file server records each rename (the audit log is
   written from what was actually done, paths mapped to ``/srv/share``);
3. ``tulou drill run ransomware`` restores the last snapshot before the incident, verifies it
   (signatures, indexes, trees, GCM tags, keyed SM3 ids) and measures RTO/RPO; the scenario then
   checks the restored documents equal the originals byte for byte, puts them back in the
   share and removes the locked copies.

The backup site status and the signed drill record land where ``tulou report`` reads them: the
data directory of the session (``TULOU_DATA_DIR`` in the stage's environment), so the report
after a demo judges the backup clauses on this very drill.

The backup passphrase is random per play and reaches the CLI only through the environment
(``TULOU_BACKUP_PASSPHRASE`` in the child's env, never argv). When the stage's environment names
a SOC (``TULOU_SOC_URL``/``TULOU_SOC_TOKEN``), the policy points the drill at it, so a failed or
late drill alerts the SOC itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from backup.policy import PASSPHRASE_ENV
from lab.craft import auditd
from lab.craft.auditd import Actor, PathItem
from lab.scenarios.base import Scenario, Stage
from tulou.errors import VerificationError

MASS_FILE_CHANGES = "6c1455a1-62af-5eee-9c43-b3be216d60cb"  # rules/linux-mass-file-changes.yml

HOST = "fileserver01"
SHARE = "/srv/share"
MALWARE = "/var/tmp/.cache/kworker-upd"  # noqa: S108 - where the crafted malware hides
DEPARTMENTS = ("finance", "permits", "hr", "civil-affairs")
FILES_PER_DEPARTMENT = 15
NOTE = "HOW-TO-RECOVER.txt"
#: KDF work for the lab's throwaway repository (the CLI's floor; production keeps 300 000).
KDF_ITERATIONS = "1000"
ACTOR = Actor(HOST, uid=1017, auid=1017, user="svc-scan", login="svc-scan", ses=88, tty="(none)")


def city_files() -> dict[str, bytes]:
    """The share's documents: relative path -> content (deterministic, a few hundred bytes)."""
    files: dict[str, bytes] = {}
    for dept in DEPARTMENTS:
        for n in range(1, FILES_PER_DEPARTMENT + 1):
            name = f"{dept}/{dept}-record-{n:03d}.csv"
            rows = "".join(f"{dept},{n},{row},item {row} of case {n}\n" for row in range(8))
            files[name] = f"department,case,row,text\n{rows}".encode()
    return files


def _encrypt(data: bytes, key: bytes) -> bytes:
    """What the ransomware leaves: the bytes XORed with a SHA-256 keystream (not recoverable
    without the key, which the lab throws away)."""
    stream = b"".join(
        hashlib.sha256(key + i.to_bytes(4, "big")).digest() for i in range(len(data) // 32 + 1)
    )
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


class Ransomware(Scenario):
    """Mass renames to *.locked on the file share, then a drill that restores and verifies."""

    name: ClassVar[str] = "ransomware"
    title: ClassVar[str] = "Ransomware encrypts the city file share; the backup brings it back"
    techniques: ClassVar[tuple[str, ...]] = ("T1486", "T1490")
    expects: ClassVar[tuple[str, ...]] = (MASS_FILE_CHANGES,)

    def play(self, stage: Stage) -> None:
        share = stage.workdir / "share"
        originals = city_files()
        for relative, data in originals.items():
            path = share / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        policy = self._policy(stage, share)
        # The drill record and the backup site status go where the reports read them: the
        # session's data directory (a stage of its own when played outside a session).
        data_dir = stage.env.get("TULOU_DATA_DIR") or str(stage.workdir / "var")
        cli = dataclasses.replace(
            stage,
            env={
                **stage.env,
                PASSPHRASE_ENV: secrets.token_urlsafe(24),
                "TULOU_DATA_DIR": data_dir,
            },
            artifacts=[],
            notes=[],
        )
        cli.tulou(
            "--json", "backup", "init", "--policy", str(policy), "--kdf-iterations", KDF_ITERATIONS
        )
        backup = json.loads(cli.tulou("--json", "backup", "run", "--policy", str(policy)).stdout)
        for site in backup["sites"]:  # every byte read back: the site status records it
            cli.tulou(
                "--json", "backup", "verify", "--policy", str(policy), "--site", site, "--read-data"
            )
        incident = self._encrypt_share(stage, share, originals)
        drill = json.loads(
            cli.tulou(
                "--json",
                "drill",
                "run",
                "ransomware",
                "--policy",
                str(policy),
                "--scratch",
                str(stage.workdir / "drill-scratch"),
                "--incident-time",
                incident.strftime("%Y-%m-%dT%H:%M:%S%z"),
            ).stdout
        )
        restored = self._check_restore(stage, drill, originals)
        self._put_back(share, restored, originals)
        rto, rpo = drill["rto"], drill["rpo"]
        stage.note(
            f"backup {backup['snapshot'][:12]} of {len(originals)} files to "
            f"{', '.join(backup['sites'])}; {len(originals)} files encrypted and renamed"
        )
        stage.note(
            f"drill {drill['outcome']}: RTO {rto['achieved_seconds']}s (objective "
            f"{rto['objective_seconds']:.0f}s), RPO {rpo['achieved_seconds']}s (objective "
            f"{rpo['objective_seconds']:.0f}s); {len(restored)} files restored byte-identical; "
            f"record {drill['record']}"
        )

    @staticmethod
    def _policy(stage: Stage, share: Path) -> Path:
        lines = [
            f'passphrase_env = "{PASSPHRASE_ENV}"',
            "[[sites]]",
            'name = "primary"',
            f'url = "{stage.workdir / "site-primary"}"',
            "[[sites]]",
            'name = "second"',
            f'url = "{stage.workdir / "site-second"}"',
            "[[sources]]",
            'name = "city-share"',
            'kind = "path"',
            f'path = "{share}"',
            "[objectives]",
            "rto_seconds = 900",
            "rpo_seconds = 3600",
        ]
        if stage.env.get("TULOU_SOC_URL"):
            lines += [
                "[soc]",
                f'url = "{stage.env["TULOU_SOC_URL"]}"',
                'token_env = "TULOU_SOC_TOKEN"',
            ]
        path = stage.workdir / "backup-policy.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    @staticmethod
    def _encrypt_share(stage: Stage, share: Path, originals: dict[str, bytes]) -> datetime:
        """Encrypt and rename every document, write the notes and the file server's audit log."""
        key = secrets.token_bytes(32)
        start = stage.now()
        argv = (MALWARE, "--walk", SHARE)
        lines = auditd.execve(
            ACTOR, start, 510_000, argv, MALWARE, cwd=MALWARE.rsplit("/", 2)[0], pid=23117
        )
        serial = 510_001
        for i, relative in enumerate(sorted(originals)):
            path = share / relative
            path.write_bytes(_encrypt(originals[relative], key))
            path.rename(path.with_name(path.name + ".locked"))
            moment = start + timedelta(milliseconds=5 * (i + 1))
            old = f"{SHARE}/{relative}"
            lines += auditd.rename(
                ACTOR, moment, serial, old, old + ".locked", exe=MALWARE, argv=argv, pid=23117,
                key="city_share",
            )  # fmt: skip
            serial += 1
        for dept in DEPARTMENTS:
            (share / dept / NOTE).write_text("Your files are encrypted. Contact ...\n")
            lines += auditd.file_syscall(
                ACTOR, start + timedelta(milliseconds=400), serial, "openat",
                [PathItem(f"{SHARE}/{dept}/", "PARENT", mode="040775"),
                 PathItem(f"{SHARE}/{dept}/{NOTE}", "CREATE")],
                exe=MALWARE, argv=argv, cwd=f"{SHARE}/{dept}", pid=23117, key="city_share",
                exit_code=5,
            )  # fmt: skip
            serial += 1
        stage.log(f"{HOST}/audit.log", lines, "auditd")
        # The declared incident time has whole seconds: round up so the backup taken earlier in
        # this same second still counts as before the incident.
        return (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)

    @staticmethod
    def _check_restore(
        stage: Stage, drill: dict[str, Any], originals: dict[str, bytes]
    ) -> dict[str, bytes]:
        """The restored documents, refused unless every one equals its original."""
        restores = sorted((stage.workdir / "drill-scratch").glob("restore-*/city-share"))
        if drill.get("outcome") != "passed" or not restores:
            raise VerificationError(f"the recovery drill did not pass: {drill.get('error')}")
        root = restores[-1]
        restored = {
            str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }
        wrong = sorted(name for name in originals if restored.get(name) != originals[name])
        if wrong or set(restored) != set(originals):
            raise VerificationError(
                f"restore differs from the originals: {len(wrong)} files differ, "
                f"{len(set(restored) ^ set(originals))} missing or extra"
            )
        return restored

    @staticmethod
    def _put_back(share: Path, restored: dict[str, bytes], originals: dict[str, bytes]) -> None:
        """Recovery: the verified copies replace the locked ones; the notes go."""
        for relative, data in restored.items():
            (share / relative).write_bytes(data)
            (share / (relative + ".locked")).unlink(missing_ok=True)
        for dept in DEPARTMENTS:
            (share / dept / NOTE).unlink(missing_ok=True)
        back = {str(p.relative_to(share)): p.read_bytes() for p in share.rglob("*") if p.is_file()}
        if back != originals:
            raise VerificationError("the share does not hold the original files after recovery")


SCENARIOS: tuple[type[Scenario], ...] = (Ransomware,)
