"""``tulou crypto remote``: every operation of the service through the CLI (in process, through
``tulou.cli.main``) against the real service over HTTP, with exit codes and outputs checked
independently of the service (local SM2/SM3, the CRL parsed here, openssl for the CSR)."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto.service import tsa, x509
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import hmac_sm3, sm3
from tests.fixtures.cryptoservice import RunningService
from tulou.cli import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    kms: RunningService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TULOU_KMS_URL", kms.url)
    monkeypatch.delenv("TULOU_KMS_CA", raising=False)

    def run(account: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("TULOU_KMS_TOKEN", kms.tokens[account])
        code = main(["crypto", "remote", *argv])
        out, err = capsys.readouterr()
        assert kms.tokens[account] not in out + err
        return code, out, err

    return run


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def test_tenants_rings_keys_and_their_lifecycle(run: Run, kms: RunningService) -> None:
    tenant = f"t{secrets.token_hex(3)}"
    ok(run("admin", "tenants", "create", tenant))
    ok(run("admin", "rings", "create", f"{tenant}/vault"))
    assert run("admin", "rings", "create", f"{tenant}/vault")[0] == 2  # exists
    key = f"hr/records/c{secrets.token_hex(3)}"
    ok(run("admin", "keys", "create", key, "--type", "sm4", "--label", "owner=hr"))
    listed = json.loads(ok(run("admin", "keys", "list", "hr/records", "--json")))
    assert key.split("/")[2] in listed["keys"]
    Path("p.txt").write_bytes(b"v1 data")
    ok(run("hr-app", "encrypt", key, "-i", "p.txt", "-o", "v1.bin"))
    rotated = json.loads(ok(run("admin", "keys", "rotate", key, "--json")))
    assert rotated["primary"] == 2
    ok(run("admin", "keys", "update", key, "--min-decrypt-version", "2"))
    code, _, err = run("hr-app", "decrypt", key, "-i", "v1.bin", "-o", "x.txt")
    assert code == 8 and "version-retired" in err and not Path("x.txt").exists()
    assert run("admin", "keys", "update", key)[0] == 2  # nothing to change
    ok(run("admin", "keys", "rotate", key))
    ok(run("admin", "keys", "disable", key, "--version", "2"))
    shown = json.loads(ok(run("admin", "keys", "show", key, "--json")))
    assert [v["state"] for v in shown["versions"]] == ["enabled", "disabled", "enabled"]
    ok(run("admin", "keys", "enable", key, "--version", "2"))
    # Destruction: two different officers; the requester cannot approve; cancel restores.
    ok(run("officer-a", "keys", "destroy", key, "--version", "1"))
    code, _, err = run("officer-a", "keys", "approve-destroy", key, "--version", "1")
    assert code == 8 and "dual-control" in err
    ok(run("officer-a", "keys", "cancel-destroy", key, "--version", "1"))
    ok(run("officer-a", "keys", "destroy", key, "--version", "1"))
    ok(run("officer-b", "keys", "approve-destroy", key, "--version", "1"))
    record = json.loads(ok(run("admin", "keys", "show", key, "--json")))
    pending = record["destruction"]["1"]
    assert (pending["requested_by"], pending["approved_by"]) == (
        "service:officer-a",
        "service:officer-b",
    )
    assert run("hr-app", "keys", "destroy", key, "--version", "2")[0] == 8  # not an officer
    actions = {e["event.action"] for e in kms.audit() if e.get("tulou.key.path") == key}
    assert {"key-update", "key-destroy-request", "key-destroy-approve", "key-destroy-cancel"} <= (
        actions
    )


def test_public_key_export_and_import(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    # Import an SM2 key made here: the service signs with it, and the local public key verifies.
    local = SM2PrivateKey.generate()
    Path("mine.pem").write_bytes(local.to_pem(b"file pass"))
    imported = f"hr/records/i{secrets.token_hex(3)}"
    code, _, err = run("admin", "keys", "import", imported, "--type", "sm2", "-i", "mine.pem")
    assert code != 0  # encrypted PEM without its passphrase
    monkeypatch.setenv("IMPORT_PASS", "file pass")
    ok(
        run(
            "admin",
            "keys",
            "import",
            imported,
            "--type",
            "sm2",
            "-i",
            "mine.pem",
            "--passphrase-env",
            "IMPORT_PASS",
        )
    )
    Path("m.txt").write_bytes(b"imported key signs")
    ok(run("hr-app", "sign", imported, "-i", "m.txt", "-o", "m.sig"))
    local.public_key().verify(Path("m.sig").read_bytes(), b"imported key signs")
    ok(run("hr-app", "keys", "public-key", imported, "-o", "pub.pem"))
    assert SM2PublicKey.from_pem(Path("pub.pem").read_bytes()) == local.public_key()
    # Export: refused for the default (non-exportable) key; an exportable HMAC key's material,
    # decrypted here, computes the same tag as the service.
    recipient = SM2PrivateKey.generate()
    Path("to.pem").write_bytes(recipient.public_key().to_pem())
    code, _, err = run("admin", "keys", "export", imported, "--to", "to.pem", "-o", "e.bin")
    assert code == 8 and "not-exportable" in err and not Path("e.bin").exists()
    mac_key = f"hr/records/h{secrets.token_hex(3)}"
    ok(run("admin", "keys", "create", mac_key, "--type", "hmac-sm3", "--exportable"))
    ok(run("admin", "keys", "export", mac_key, "--to", "to.pem", "-o", "e.bin"))
    material = recipient.decrypt(Path("e.bin").read_bytes())
    ok(run("hr-app", "mac", mac_key, "-i", "m.txt", "-o", "m.tag"))
    assert Path("m.tag").read_bytes()[-32:] == hmac_sm3(material, b"imported key signs")
    # Raw SM4 material of the wrong length is refused, and nothing is created.
    Path("short.key").write_bytes(b"0123456789")
    bad = f"hr/records/b{secrets.token_hex(3)}"
    assert run("admin", "keys", "import", bad, "--type", "sm4", "-i", "short.key")[0] == 2
    assert run("admin", "keys", "show", bad)[0] == 6


def test_data_operations(run: Run) -> None:
    key = f"hr/records/d{secrets.token_hex(3)}"
    ok(run("admin", "keys", "create", key))
    Path("p.txt").write_bytes(b"citizen 7")
    ok(run("hr-app", "encrypt", key, "-i", "p.txt", "-o", "c.bin", "--context", "t=people"))
    ok(run("admin", "keys", "rotate", key))
    out = json.loads(
        ok(
            run(
                "hr-app",
                "rewrap",
                key,
                "-i",
                "c.bin",
                "-o",
                "c2.bin",
                "--context",
                "t=people",
                "--json",
            )
        )
    )
    assert (out["from_version"], out["key_id"]) == (1, f"{key}@v2")
    ok(run("hr-app", "decrypt", key, "-i", "c2.bin", "-o", "back.txt", "--context", "t=people"))
    assert Path("back.txt").read_bytes() == b"citizen 7"
    assert run("hr-app", "rewrap", key, "-i", "c.bin", "-o", "c3.bin")[0] == 5  # no context
    assert not Path("c3.bin").exists()
    # Data key: the plaintext printed equals what the wrapped key decrypts to.
    shown = json.loads(ok(run("hr-app", "data-key", key, "-o", "dk.bin", "--context", "f=a")))
    ok(run("hr-app", "decrypt", key, "-i", "dk.bin", "-o", "dk.txt", "--context", "f=a"))
    assert Path("dk.txt").read_bytes() == base64.b64decode(shown["plaintext"])
    assert len(Path("dk.txt").read_bytes()) == 16
    hidden = json.loads(ok(run("hr-app", "data-key", key, "-o", "dk2.bin", "--no-plaintext")))
    assert "plaintext" not in hidden
    # HMAC-SM3.
    mac_key = f"hr/records/m{secrets.token_hex(3)}"
    ok(run("admin", "keys", "create", mac_key, "--type", "hmac-sm3"))
    ok(run("hr-app", "mac", mac_key, "-i", "p.txt", "-o", "p.tag"))
    ok(run("hr-app", "mac-verify", mac_key, "-i", "p.txt", "-t", "p.tag"))
    Path("p.txt").write_bytes(b"citizen 8")
    code, _, err = run("hr-app", "mac-verify", mac_key, "-i", "p.txt", "-t", "p.tag")
    assert code == 5 and "mac-invalid" in err
    # SM2 over data (with an ID), over a digest, raw; verified locally and by the service.
    sm2_key = f"hr/records/s{secrets.token_hex(3)}"
    ok(run("admin", "keys", "create", sm2_key, "--type", "sm2"))
    ok(run("hr-app", "keys", "public-key", sm2_key, "-o", "pub.pem"))
    public = SM2PublicKey.from_pem(Path("pub.pem").read_bytes())
    ok(run("hr-app", "sign", sm2_key, "-i", "p.txt", "-o", "p.sig", "--uid", "hr@city"))
    public.verify(Path("p.sig").read_bytes(), b"citizen 8", uid=b"hr@city")
    ok(run("hr-app", "verify", sm2_key, "-i", "p.txt", "-s", "p.sig", "--uid", "hr@city"))
    assert run("hr-app", "verify", sm2_key, "-i", "p.txt", "-s", "p.sig")[0] == 5  # other ID
    e = public.digest(b"citizen 8", b"1234567812345678")
    ok(run("hr-app", "sign", sm2_key, "--digest", e.hex(), "--raw", "-o", "d.sig"))
    assert len(Path("d.sig").read_bytes()) == 64
    public.verify_raw(Path("d.sig").read_bytes(), b"citizen 8")
    ok(run("hr-app", "verify", sm2_key, "-i", "p.txt", "--raw", "-s", "d.sig"))
    Path("other.txt").write_bytes(b"citizen 9")
    code, _, err = run("hr-app", "verify", sm2_key, "-i", "other.txt", "-s", "p.sig")
    assert code == 5 and "signature-invalid" in err
    assert run("hr-app", "sign", sm2_key, "-o", "z.sig")[0] == 2  # neither -i nor --digest
    # Batch: per-item results; one bad item sets the exit code, the others still succeed.
    items = [
        {"operation": "encrypt", "key": key, "plaintext": base64.b64encode(b"a").decode()},
        {"operation": "mac", "key": key, "data": "YQ=="},  # an SM4 key cannot MAC
        {"operation": "sign", "key": sm2_key, "data": "YQ=="},
    ]
    Path("items.json").write_text(json.dumps({"items": items}))
    code, out, _ = run("hr-app", "batch", "-i", "items.json", "--json")
    results = json.loads(out)["results"]
    assert code == 2 and [r["ok"] for r in results] == [True, False, True]
    assert results[1]["error"]["code"] == "wrong-key-type"


def test_timestamps(run: Run) -> None:
    Path("chain-head.txt").write_bytes(b"1234:" + sm3(b"head").hex().encode())
    ok(run("hr-app", "timestamp", "-i", "chain-head.txt", "-o", "head.tsr"))
    token = tsa.verify(Path("head.tsr").read_bytes(), data=Path("chain-head.txt").read_bytes())
    checked = json.loads(
        ok(run("hr-app", "timestamp-verify", "-i", "chain-head.txt", "-t", "head.tsr", "--json"))
    )
    assert checked["serial"] == f"{token.serial:x}" and checked["profile"] == "gmt0033"
    Path("other.txt").write_bytes(b"1235:feed")
    code, _, err = run("hr-app", "timestamp-verify", "-i", "other.txt", "-t", "head.tsr")
    assert code == 5 and "signature-invalid" in err
    assert run("outsider", "timestamp", "-i", "other.txt", "-o", "x.tsr")[0] == 8
    assert not Path("x.tsr").exists()


@pytest.mark.openssl
def test_pki_and_cms(run: Run, tmp_path: Path) -> None:
    ok(run("hr-app", "pki", "ca", "-o", "ca.pem"))
    ca = x509.parse_certificate(x509.unpem(Path("ca.pem").read_text(), "CERTIFICATE"))
    assert ca.is_ca()
    ok(run("hr-app", "pki", "tsa", "-o", "tsa.pem"))
    # A CSR from openssl, issued, shown, validated, revoked: then invalid and on the CRL.
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            "a.key",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            "a.key",
            "-sm3",
            "-subj",
            "/CN=cli-app",
            "-out",
            "a.csr",
        ],
        check=True,
        capture_output=True,
    )
    issued = json.loads(
        ok(
            run(
                "admin",
                "pki",
                "issue",
                "--csr",
                "a.csr",
                "--profile",
                "client",
                "--dns",
                "app.city",
                "-o",
                "a.pem",
                "--json",
            )
        )
    )
    serial = issued["serial"]
    ok(run("admin", "pki", "validate", "a.pem"))
    assert json.loads(ok(run("admin", "pki", "show", serial, "--json")))["status"] == "good"
    ok(run("admin", "pki", "revoke", serial, "--reason", "keyCompromise"))
    code, _, err = run("admin", "pki", "validate", "a.pem")
    assert code == 5 and "certificate-revoked" in err
    ok(run("hr-app", "pki", "crl", "-o", "crl.der"))
    crl = x509.parse_crl(Path("crl.der").read_bytes())
    assert int(serial, 16) in crl.revoked
    ca.public_key.verify(crl.signature, crl.tbs)
    assert run("admin", "pki", "show", "zz")[0] == 2
    # CMS by a service-held key with its certificate; tampered message refused.
    key = f"hr/records/x{secrets.token_hex(3)}"
    ok(run("admin", "keys", "create", key, "--type", "sm2"))
    assert run("hr-app", "cms", "sign", key, "-i", "ca.pem", "-o", "m.p7")[0] == 6  # no cert yet
    ok(run("hr-app", "pki", "key-cert", key, "--cn", "hr-records", "--org", "HR", "-o", "k.pem"))
    Path("doc.txt").write_bytes(b"decision 2026-12")
    ok(run("hr-app", "cms", "sign", key, "-i", "doc.txt", "-o", "m.p7"))
    out = json.loads(
        ok(run("tax-app", "cms", "verify", "-i", "m.p7", "-o", "content.txt", "--json"))
    )
    assert out["profile"] == "gmt0010" and "hr-records" in out["signer"]["subject"]
    assert Path("content.txt").read_bytes() == b"decision 2026-12"
    ok(
        run(
            "hr-app",
            "cms",
            "sign",
            key,
            "-i",
            "doc.txt",
            "-o",
            "d.p7",
            "--detached",
            "--profile",
            "pkcs7",
        )
    )
    ok(run("tax-app", "cms", "verify", "-i", "d.p7", "--content", "doc.txt"))
    Path("doc.txt").write_bytes(b"decision 2026-13")
    code, _, err = run("tax-app", "cms", "verify", "-i", "d.p7", "--content", "doc.txt")
    assert code == 5 and "signature-invalid" in err
