"""End to end: `tulou report compliance` on seeded platform data renders a readable, signed PDF.

Rasterises page 1 with pdftoppm (poppler-utils) and keeps it as test-artifacts/report-page1.png,
extracts the text with pdftotext, then checks `tulou report verify` accepts the directory and
rejects a modified copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.unit.compliance.seed_data import DRILL_ID, PERIOD, seed
from tulou.cli import main

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TULOU_MASTER_PASSPHRASE", "correct horse battery staple")
    monkeypatch.delenv("TULOU_CONFIG", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_compliance_pdf_renders_verifies_and_detects_tampering(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed(env / "platform", mtls_everywhere=False, reported_on_time=False)
    out = env / "report-q"
    code, result = run(
        capsys,
        "report",
        "compliance",
        "--period",
        PERIOD,
        "--out",
        str(out),
        "--sources",
        str(seeded.sources),
    )
    assert code == 0, result
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html",
        "report.json",
        "report.pdf",
        "report.sig.json",
    ]
    summary = result["summary"]
    assert isinstance(summary, dict) and sum(summary.values()) >= 30
    assert summary["met"] and summary["partially_met"]

    # The evidence travels inside the report: no path of this machine, no file:// links; each
    # excerpt is a real record, its source file's SM3 taken when the report was made.
    for name in ("report.json", "report.html"):
        text = (out / name).read_text()
        assert str(env) not in text and "file://" not in text, name
    doc = json.loads((out / "report.json").read_text())
    decisions = next(e for e in doc["evidence"] if e["key"] == "gateway.decisions")
    audit_file = env / "platform" / "gateway" / "audit.jsonl"
    from crypto.sm3 import sm3

    lines = audit_file.read_text().splitlines()
    for item in decisions["excerpts"]:
        assert item["source"] == "audit.jsonl"
        assert item["source_sm3"] == sm3(audit_file.read_bytes()).hex()
        number = int(item["locator"].split()[1])  # "第 N 行"
        assert lines[number - 1] == item["text"]
        assert item["sm3"] == sm3(item["text"].encode()).hex()
    assert decisions["excerpts"], "the allowed request without a subject is bundled"

    # The JSON twin and the PDF tell the same story.
    statuses = {c["id"]: c["status"] for c in doc["clauses"]}
    # A 较大 incident reported late, and 2 resolved alerts of 4 are too few for an MTTR.
    assert statuses["mlps-8.1.10.12"] == "not_met"
    handling = next(c for c in doc["clauses"] if c["id"] == "mlps-8.1.10.12")
    assert "证据不足" in handling["reason"] and handling["items"][1]["insufficient"]
    assert statuses["mlps-8.1.4.9"] == "met"

    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(out / "report.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for title in (
        "网络安全等级保护与商用密码应用合规报告",
        "数据备份恢复",
        "集中管控",
        "应急预案管理",
        "不可否认性",
        "重要数据存储机密性",
        "部分符合",
    ):
        assert title in text, title

    page = env / "page"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "80",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(out / "report.pdf"),
            str(page),
        ],
        check=True,
    )
    image = Image.open(f"{page}.png").convert("L")
    histogram = image.histogram()
    dark = sum(histogram[:128]) / (image.width * image.height)
    assert image.width > 500 and 0.01 < dark < 0.5, dark  # text and charts, not a blank page
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(f"{page}.png", ARTIFACTS / "report-page1.png")

    public = env / "var" / "reports" / "signing-key.pub.pem"
    code, verdict = run(capsys, "report", "verify", str(out), "--key", str(public))
    assert code == 0 and verdict["ok"] and verdict["pinned"]

    copy = env / "copy"
    shutil.copytree(out, copy)
    pdf = bytearray((copy / "report.pdf").read_bytes())
    pdf[len(pdf) // 2] ^= 0x01
    (copy / "report.pdf").write_bytes(bytes(pdf))
    code, verdict = run(capsys, "report", "verify", str(copy))
    assert code == 5 and verdict["ok"] is False
    assert "report.pdf 在签署后被修改" in str(verdict["error"])

    # A report checked against another signer's key fails, and says so (it said "NOT pinned").
    from crypto.sm2 import SM2PrivateKey

    other = env / "other.pub.pem"
    other.write_bytes(SM2PrivateKey.generate().public_key().to_pem())
    code, verdict = run(capsys, "report", "verify", str(out), "--key", str(other))
    assert code == 5 and "而不是 --key 给出的密钥" in str(verdict["error"])
    code, verdict = run(capsys, "report", "verify", str(out), "--key", str(other), "--lang", "en")
    assert code == 5 and "NOT by the key given with --key" in str(verdict["error"])

    code, _ = run(
        capsys,
        "report",
        "compliance",
        "--period",
        PERIOD,
        "--out",
        str(out),
        "--sources",
        str(seeded.sources),
    )
    assert code == 2  # an existing report is never overwritten


def test_incident_and_drill_reports(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded = seed(env / "platform", reported_on_time=False, drill_rpo_met=False)
    code, result = run(
        capsys,
        "report",
        "incident",
        "1",
        "--out",
        str(env / "inc"),
        "--sources",
        str(seeded.sources),
    )
    assert code == 0 and result["deadline_state"] == "missed"
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(env / "inc" / "report.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "网络安全事件报告" in text and "较大" in text and "网络攻击事件" in text

    code, result = run(
        capsys,
        "report",
        "drill",
        DRILL_ID[:10],
        "--out",
        str(env / "drill"),
        "--sources",
        str(seeded.sources),
    )
    assert code == 0
    assert (
        result["rto_met"] is True
        and result["rpo_met"] is False
        and result["record_signature_ok"] is True
    )
    code, verdict = run(capsys, "report", "verify", str(env / "drill"))
    assert code == 0 and verdict["ok"]

    code, _ = run(
        capsys,
        "report",
        "incident",
        "999",
        "--out",
        str(env / "none"),
        "--sources",
        str(seeded.sources),
    )
    assert code == 6
