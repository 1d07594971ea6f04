"""``tulou crypto remote`` and ``store:`` keys held by the service (TULOU_KMS_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crypto.service import tsa
from tests.fixtures.cryptoservice import RunningService

ROOT = Path(__file__).resolve().parents[3]


def tulou(
    kms: RunningService, account: str, *args: str, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TULOU_KMS_URL": url or kms.url, "TULOU_KMS_TOKEN": kms.tokens[account]}
    return subprocess.run(
        [sys.executable, "-m", "tulou", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_remote_round_trip_and_exit_codes(kms: RunningService, tmp_path: Path) -> None:
    key = "hr/records/cli-files"
    created = tulou(
        kms, "admin", "crypto", "remote", "keys", "create", key, "--type", "sm4", "--json"
    )
    assert created.returncode == 0, created.stderr
    (tmp_path / "plain.txt").write_bytes(b"household register")
    enc = tulou(
        kms,
        "hr-app",
        "crypto",
        "remote",
        "encrypt",
        key,
        "-i",
        str(tmp_path / "plain.txt"),
        "-o",
        str(tmp_path / "ct.bin"),
        "--context",
        "table=households",
    )
    assert enc.returncode == 0, enc.stderr
    dec = tulou(
        kms,
        "hr-app",
        "crypto",
        "remote",
        "decrypt",
        key,
        "-i",
        str(tmp_path / "ct.bin"),
        "-o",
        str(tmp_path / "back.txt"),
        "--context",
        "table=households",
    )
    assert dec.returncode == 0 and (tmp_path / "back.txt").read_bytes() == b"household register"
    wrong = tulou(
        kms,
        "hr-app",
        "crypto",
        "remote",
        "decrypt",
        key,
        "-i",
        str(tmp_path / "ct.bin"),
        "-o",
        str(tmp_path / "x.txt"),
        "--context",
        "table=other",
    )
    assert (
        wrong.returncode == 5
        and "decrypt-failed" in wrong.stderr
        and not (tmp_path / "x.txt").exists()
    )
    denied = tulou(
        kms,
        "outsider",
        "crypto",
        "remote",
        "encrypt",
        key,
        "-i",
        str(tmp_path / "plain.txt"),
        "-o",
        str(tmp_path / "y.bin"),
    )
    assert denied.returncode == 8 and "denied" in denied.stderr
    missing = tulou(
        kms,
        "hr-app",
        "crypto",
        "remote",
        "encrypt",
        "hr/records/none",
        "-i",
        str(tmp_path / "plain.txt"),
        "-o",
        str(tmp_path / "z.bin"),
    )
    assert missing.returncode == 6
    assert kms.tokens["hr-app"] not in enc.stdout + enc.stderr


def test_remote_timestamp(kms: RunningService, tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"%PDF report")
    out = tulou(
        kms,
        "hr-app",
        "crypto",
        "remote",
        "timestamp",
        "-i",
        str(tmp_path / "report.pdf"),
        "-o",
        str(tmp_path / "report.tsr"),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert (
        tsa.verify((tmp_path / "report.tsr").read_bytes(), data=b"%PDF report").profile == "gmt0033"
    )


def test_store_references_use_the_service_keys(kms: RunningService, tmp_path: Path) -> None:
    """`tulou crypto sign --key store:NAME` signs inside the service; the local CLI verifies."""
    url = f"kms:{kms.url}/hr/exchange"
    assert (
        tulou(kms, "admin", "crypto", "keys", "create", "report-signing", url=url).returncode == 0
    )
    (tmp_path / "report.txt").write_bytes(b"Q4 compliance report")
    signed = tulou(
        kms,
        "hr-app",
        "crypto",
        "sign",
        "--key",
        "store:report-signing",
        "-i",
        str(tmp_path / "report.txt"),
        "-o",
        str(tmp_path / "report.sig"),
        url=url,
    )
    assert signed.returncode == 0, signed.stderr
    pub = tulou(
        kms,
        "hr-app",
        "crypto",
        "pubkey",
        "store:report-signing",
        "-o",
        str(tmp_path / "pub.pem"),
        url=url,
    )
    assert pub.returncode == 0, pub.stderr
    env_free = subprocess.run(
        [
            sys.executable,
            "-m",
            "tulou",
            "crypto",
            "verify",
            "--pub",
            str(tmp_path / "pub.pem"),
            "-i",
            str(tmp_path / "report.txt"),
            "-s",
            str(tmp_path / "report.sig"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert env_free.returncode == 0, env_free.stderr
    assert any(
        e.get("event.action") == "sign" and e.get("tulou.key.path") == "hr/exchange/report-signing"
        for e in kms.audit()
    )
