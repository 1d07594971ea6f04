"""``tulou crypto``: every command end to end through tulou.cli.main, with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tulou.cli import main


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TULOU_MASTER_PASSPHRASE", "a long test master passphrase")
    monkeypatch.setenv("KEY_PASS", "file key passphrase")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["crypto", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_keygen_sign_verify_and_tamper(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "keygen", "-o", "k.pem", "--pubout", "p.pem")[0] == 0
    Path("m.txt").write_bytes(b"report body")
    assert run(capsys, "sign", "--key", "k.pem", "-i", "m.txt", "-o", "m.sig")[0] == 0
    code, out, _ = run(capsys, "verify", "--pub", "p.pem", "-i", "m.txt", "-s", "m.sig", "--json")
    assert code == 0 and json.loads(out)["verified"] is True
    Path("m.txt").write_bytes(b"report bodY")
    code, _, err = run(capsys, "verify", "--pub", "p.pem", "-i", "m.txt", "-s", "m.sig")
    assert code == 5
    assert err.strip() == "tulou: error: SM2 signature does not verify"
    # raw r||s signatures and a custom ID
    assert (
        run(
            capsys,
            "sign",
            "--key",
            "k.pem",
            "--raw",
            "--uid",
            "alice@city",
            "-i",
            "m.txt",
            "-o",
            "raw.sig",
        )[0]
        == 0
    )
    assert Path("raw.sig").stat().st_size == 64
    assert (
        run(
            capsys,
            "verify",
            "--pub",
            "p.pem",
            "--uid",
            "alice@city",
            "-i",
            "m.txt",
            "-s",
            "raw.sig",
            "--raw",
        )[0]
        == 0
    )
    assert run(capsys, "verify", "--pub", "p.pem", "-i", "m.txt", "-s", "raw.sig", "--raw")[0] == 5


def test_encrypted_key_file_and_pubkey(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "keygen", "-o", "k.pem", "--passphrase-env", "KEY_PASS")[0] == 0
    assert b"ENCRYPTED PRIVATE KEY" in Path("k.pem").read_bytes()
    code, _, err = run(capsys, "pubkey", "k.pem", "-o", "p.pem")
    assert code == 2 and "passphrase is required" in err
    assert run(capsys, "pubkey", "k.pem", "-o", "p.pem", "--passphrase-env", "KEY_PASS")[0] == 0
    assert Path("p.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_encrypt_decrypt_wrong_key(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "keygen", "-o", "a.pem", "--pubout", "a.pub")
    run(capsys, "keygen", "-o", "b.pem")
    Path("secret").write_bytes(b"content key")
    assert run(capsys, "encrypt", "--pub", "a.pub", "-i", "secret", "-o", "ct")[0] == 0
    assert run(capsys, "decrypt", "--key", "a.pem", "-i", "ct", "-o", "pt")[0] == 0
    assert Path("pt").read_bytes() == b"content key"
    code, _, err = run(capsys, "decrypt", "--key", "b.pem", "-i", "ct", "-o", "pt2")
    assert code == 5 and "wrong key" in err
    assert not Path("pt2").exists()
    assert run(capsys, "encrypt", "--pub", "missing.pub", "-i", "secret", "-o", "x")[0] == 4


def test_key_store_seal_open_and_rotate(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "keys", "init", "--iterations", "1000")[0] == 0
    assert run(capsys, "keys", "create", "gateway")[0] == 0
    assert run(capsys, "keys", "create", "backup")[0] == 0
    Path("payload").write_bytes(b'{"alert": 1}')
    code, out, _ = run(
        capsys,
        "seal",
        "--key",
        "store:gateway",
        "--to",
        "store:backup",
        "-i",
        "payload",
        "-o",
        "env.bin",
        "--json",
    )
    assert code == 0 and json.loads(out)["sender_id"] == "gateway@v1"
    code, out, _ = run(
        capsys,
        "open",
        "--key",
        "store:backup",
        "--trust",
        "store:gateway",
        "-i",
        "env.bin",
        "-o",
        "opened",
        "--json",
    )
    assert code == 0 and json.loads(out)["sender_id"] == "gateway@v1"
    code, _, _ = run(
        capsys,
        "open",
        "--key",
        "store:backup",
        "--trust",
        "store:gateway",
        "--max-age",
        "60",
        "-i",
        "env.bin",
        "-o",
        "opened",
    )
    assert code == 0
    assert Path("opened").read_bytes() == b'{"alert": 1}'
    data = bytearray(Path("env.bin").read_bytes())
    data[-70] ^= 4
    Path("bad.bin").write_bytes(bytes(data))
    code, _, _err = run(
        capsys,
        "open",
        "--key",
        "store:backup",
        "--trust",
        "store:gateway",
        "-i",
        "bad.bin",
        "-o",
        "opened2",
    )
    assert code == 5 and not Path("opened2").exists()
    assert run(capsys, "keys", "rotate", "gateway")[0] == 0
    code, out, _ = run(capsys, "keys", "list", "--json")
    listed = {(k["key_id"], k["active"]) for k in json.loads(out)}
    assert listed == {("backup@v1", True), ("gateway@v1", False), ("gateway@v2", True)}
    # the old version still verifies, and may not sign
    Path("m").write_bytes(b"m")
    assert run(capsys, "sign", "--key", "store:gateway", "-i", "m", "-o", "s")[0] == 0
    assert run(capsys, "verify", "--pub", "store:gateway@v2", "-i", "m", "-s", "s")[0] == 0
    assert run(capsys, "verify", "--pub", "store:gateway@v1", "-i", "m", "-s", "s")[0] == 5
    assert run(capsys, "sign", "--key", "store:gateway@v1", "-i", "m", "-o", "s")[0] == 8
    assert run(capsys, "keys", "rotate", "nope")[0] == 6
    audit = Path("data/keys/audit.jsonl").read_text()
    assert "a long test master passphrase" not in audit
    assert audit.count('"key-sign"') >= 2


def test_wrong_master_passphrase(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "keys", "init", "--iterations", "1000")
    monkeypatch.setenv("TULOU_MASTER_PASSPHRASE", "another long passphrase")
    code, _, err = run(capsys, "keys", "list")
    assert code == 5 and "wrong passphrase" in err
