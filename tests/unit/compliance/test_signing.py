"""The report signature: SM2 over the SM3 digests; verification offline, tampering detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compliance.signing import SIGNATURE_FILE, sign_directory, verify_directory
from crypto.sm2 import SM2PrivateKey
from tulou import i18n
from tulou.errors import InputError, VerificationError

KEY = SM2PrivateKey.generate()


@pytest.fixture
def signed(tmp_path: Path) -> Path:
    (tmp_path / "report.json").write_text('{"kind": "compliance"}\n')
    (tmp_path / "report.html").write_text("<html>数据备份恢复</html>")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7 fake but signed\n")
    sign_directory(tmp_path, KEY)
    return tmp_path


def test_verifies_and_pins(signed: Path) -> None:
    result = verify_directory(signed, trusted=KEY.public_key())
    assert result.ok and result.pinned
    assert result.files == {"report.html": "ok", "report.json": "ok", "report.pdf": "ok"}
    assert result.fingerprint == KEY.public_key().fingerprint()
    unpinned = verify_directory(signed)
    assert unpinned.ok and not unpinned.pinned


@pytest.mark.parametrize("name", ["report.pdf", "report.json", "report.html"])
def test_a_modified_file_is_named(signed: Path, name: str) -> None:
    path = signed / name
    path.write_bytes(path.read_bytes().replace(b"a", b"b", 1) + b" ")
    result = verify_directory(signed)
    assert not result.ok
    assert result.files[name] == "modified"
    assert any(name in p for p in result.problems)


def test_an_edited_manifest_breaks_the_signature(signed: Path) -> None:
    manifest = json.loads((signed / SIGNATURE_FILE).read_text())
    pdf = signed / "report.pdf"
    pdf.write_bytes(b"%PDF forged")
    # The forger updates the digest too: the SM2 signature no longer covers the manifest.
    from crypto.sm3 import sm3

    manifest["files"]["report.pdf"] = {
        "bytes": pdf.stat().st_size,
        "sm3": sm3(pdf.read_bytes()).hex(),
    }
    (signed / SIGNATURE_FILE).write_text(json.dumps(manifest))
    result = verify_directory(signed)
    assert not result.ok
    assert any("SM2 签名校验失败" in p for p in result.problems)  # Chinese by default
    with i18n.using("en"):
        english = verify_directory(signed)
    assert any("SM2 signature over the manifest does not verify" in p for p in english.problems)
    assert result.files["report.pdf"] == "ok"


def test_a_resigned_copy_fails_the_pin(signed: Path) -> None:
    other = SM2PrivateKey.generate()
    (signed / "report.pdf").write_bytes(b"%PDF forged")
    sign_directory(signed, other)
    assert verify_directory(signed).ok  # integrity alone holds ...
    result = verify_directory(signed, trusted=KEY.public_key())
    assert not result.ok  # ... but it is not the regulator's known signer
    wrong = verify_directory(signed, fingerprint=KEY.public_key().fingerprint())
    assert not wrong.ok


def test_extra_and_missing_files(signed: Path) -> None:
    (signed / "annex.pdf").write_bytes(b"x")
    (signed / "report.html").unlink()
    result = verify_directory(signed)
    assert not result.ok
    assert result.files["report.html"] == "missing"
    assert any("annex.pdf" in p for p in result.problems)


def test_unsigned_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(VerificationError):
        verify_directory(tmp_path)
    with pytest.raises(InputError):
        sign_directory(tmp_path, KEY)
