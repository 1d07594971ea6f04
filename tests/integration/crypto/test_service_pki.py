"""The city CA, CMS and RFC 3161 through the real service, checked by Tulou and by OpenSSL.

OpenSSL 3.0 facts these tests pin down (docs/crypto.md, "OpenSSL interoperability"):
X.509 leaf signatures verify with ``-vfyopt distid:1234567812345678``, but OpenSSL uses the
empty ID for CRLs and self-signed roots; ``openssl cms -verify`` checks SM2 over Z with the
empty ID; its PKCS#7 code (``smime``, ``ts -verify``) checks SM2 without Z.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from gmssl import sm2 as gm_sm2

from crypto.service import tsa, x509
from crypto.service.client import KmsClient
from crypto.sm2 import SM2PrivateKey
from crypto.sm3 import sm3
from tests.fixtures.cryptoservice import RunningService
from tulou.errors import InputError, VerificationError

Make = Callable[[str], KmsClient]
DISTID = "distid:1234567812345678"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _csr(tmp: Path, cn: str, *, distid: bool) -> tuple[Path, str]:
    key = tmp / f"{cn}.key"
    openssl("genpkey", "-algorithm", "SM2", "-out", str(key))
    args = [
        "req",
        "-new",
        "-key",
        str(key),
        "-sm3",
        "-subj",
        f"/CN={cn}/O=City",
        "-out",
        str(tmp / f"{cn}.csr"),
    ]
    if distid:
        args += ["-sigopt", DISTID]
    openssl(*args)
    return key, (tmp / f"{cn}.csr").read_text()


@pytest.mark.openssl
def test_csr_from_openssl_certificate_verified_by_openssl(
    kms: RunningService, client_for: Make, tmp_path: Path
) -> None:
    admin = client_for("admin")
    ca_pem = httpx.get(kms.url + "/v1/pki/ca").text
    (tmp_path / "ca.pem").write_text(ca_pem)
    for distid in (True, False):  # openssl req with and without the GM/T ID both prove possession
        _key, csr = _csr(tmp_path, f"app{int(distid)}", distid=distid)
        out = admin.request("POST", "/v1/pki/certificates", {"csr": csr, "profile": "client"})
        leaf = tmp_path / f"leaf{int(distid)}.pem"
        leaf.write_text(out["certificate"])
        assert "CN=app" in out["subject"]
        openssl("verify", "-vfyopt", DISTID, "-CAfile", str(tmp_path / "ca.pem"), str(leaf))
        # Signed with the GM/T 0015 ID, not OpenSSL's empty default: without -vfyopt it fails.
        assert (
            openssl(
                "verify", "-CAfile", str(tmp_path / "ca.pem"), str(leaf), check=False
            ).returncode
            != 0
        )
        text = openssl("x509", "-in", str(leaf), "-noout", "-text").stdout
        assert (
            "SM2-with-SM3" in text
            and "TLS Web Client Authentication" in text
            and "CA:FALSE" in text
        )
        assert admin.request("POST", "/v1/pki/validate", {"certificate": out["certificate"]})[
            "valid"
        ]


def test_bad_csr_and_certificates_are_refused(
    kms: RunningService, client_for: Make, tmp_path: Path
) -> None:
    admin = client_for("admin")
    _key, csr = _csr(tmp_path, "tampered", distid=True)
    der_csr = bytearray(x509.unpem(csr, "CERTIFICATE REQUEST"))
    der_csr[40] ^= 0x01  # inside the subject: the CSR signature no longer verifies
    with pytest.raises((InputError, VerificationError), match="csr-invalid"):
        admin.request(
            "POST", "/v1/pki/certificates", {"csr": x509.pem("CERTIFICATE REQUEST", bytes(der_csr))}
        )
    with pytest.raises(InputError, match="csr-invalid"):
        admin.request("POST", "/v1/pki/certificates", {"csr": "not a csr"})
    # A certificate from another CA (openssl self-signed) does not validate.
    other = tmp_path / "other.pem"
    openssl(
        "req",
        "-new",
        "-x509",
        "-key",
        str(tmp_path / "tampered.key"),
        "-sm3",
        "-subj",
        "/CN=rogue",
        "-days",
        "1",
        "-out",
        str(other),
    )
    with pytest.raises(VerificationError, match="certificate-invalid"):
        admin.request("POST", "/v1/pki/validate", {"certificate": other.read_text()})


@pytest.mark.openssl
def test_revocation_crl_and_expiry(kms: RunningService, client_for: Make, tmp_path: Path) -> None:
    admin = client_for("admin")
    _key, csr = _csr(tmp_path, "revoked", distid=True)
    out = admin.request("POST", "/v1/pki/certificates", {"csr": csr})
    admin.request(
        "POST", f"/v1/pki/certificates/{out['serial']}/revoke", {"reason": "keyCompromise"}
    )
    with pytest.raises(VerificationError, match="certificate-revoked"):
        admin.request("POST", "/v1/pki/validate", {"certificate": out["certificate"]})
    crl_der = httpx.get(kms.url + "/v1/pki/crl").content
    crl = x509.parse_crl(crl_der)
    assert int(out["serial"], 16) in crl.revoked
    (tmp_path / "crl.der").write_bytes(crl_der)
    text = openssl(
        "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text"
    ).stdout
    assert out["serial"].upper().lstrip("0") in text.replace(":", "") and "Key Compromise" in text
    # The CRL's SM2 signature (GM/T ID) checked independently with gmssl; OpenSSL 3.0 checks
    # CRL signatures with the empty ID only, so `openssl crl -verify` cannot (asserted).
    ca = x509.parse_certificate(x509.unpem(httpx.get(kms.url + "/v1/pki/ca").text, "CERTIFICATE"))
    raw_sig = x509.signature_to_raw_hex(crl.signature)
    point = ca.public_key.point[1:].hex()
    if point[0] not in "04":  # gmssl's lstrip("04") bug (docs/crypto.md)
        assert gm_sm2.CryptSM2(private_key="", public_key=point).verify_with_sm3(raw_sig, crl.tbs)
    (tmp_path / "ca.pem").write_text(ca.pem())
    failed = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "crl.der"),
        "-CAfile",
        str(tmp_path / "ca.pem"),
        "-noout",
        "-verify",
        check=False,
    )
    assert "verify failure" in failed.stdout + failed.stderr
    # Expired (and not yet valid): validity is checked at the moment asked for.
    _key2, csr2 = _csr(tmp_path, "short", distid=True)
    short = admin.request("POST", "/v1/pki/certificates", {"csr": csr2, "days": 1})
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    with pytest.raises(VerificationError, match="certificate-expired"):
        admin.request(
            "POST", "/v1/pki/validate", {"certificate": short["certificate"], "at": later}
        )
    earlier = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    with pytest.raises(VerificationError, match="certificate-expired"):
        admin.request(
            "POST", "/v1/pki/validate", {"certificate": short["certificate"], "at": earlier}
        )
    assert admin.request("POST", "/v1/pki/validate", {"certificate": short["certificate"]})["valid"]


def _signing_key(client_for: Make) -> str:
    """An SM2 key in the service whose public x does not trip gmssl's lstrip bug."""
    admin, hr = client_for("admin"), client_for("hr-app")
    while True:
        key = f"hr/records/s{secrets.token_hex(4)}"
        admin.create_key(key, "sm2")
        point = admin.request("GET", admin.key_url(key) + "/public-key")["public_key"]
        from crypto.sm2 import SM2PublicKey

        if SM2PublicKey.from_pem(point.encode()).point[1:].hex()[0] not in "04":
            hr.request(
                "POST",
                hr.key_url(key) + "/certificate",
                {"common_name": "hr signer", "organization": "HR"},
            )
            return key


@pytest.mark.openssl
def test_cms_pkcs7_profile_verifies_with_openssl_cms(client_for: Make, tmp_path: Path) -> None:
    key = _signing_key(client_for)
    hr = client_for("hr-app")
    content = b"dataset manifest v3\n"
    (tmp_path / "content.bin").write_bytes(content)
    for detached in (False, True):
        out = hr.request(
            "POST",
            hr.key_url(key) + "/cms-sign",
            {"data": b64(content), "profile": "pkcs7", "uid": "", "detached": detached},
        )
        message = tmp_path / f"m{int(detached)}.p7s"
        message.write_bytes(base64.b64decode(out["message"]))
        # The signer certificate as the trust anchor (-partial_chain): OpenSSL 3.0 cannot check
        # the city CA's GM/T-ID signature on it inside `cms -verify` (no -vfyopt there).
        signer_pem = tmp_path / "signer.pem"
        openssl(
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            str(message),
            "-binary",
            "-noverify",
            "-signer",
            str(signer_pem),
            "-out",
            "/dev/null",
            *(["-content", str(tmp_path / "content.bin")] if detached else []),
        )
        args = [
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            str(message),
            "-binary",
            "-CAfile",
            str(signer_pem),
            "-partial_chain",
            "-purpose",
            "any",
            "-out",
            str(tmp_path / "out.bin"),
        ]
        if detached:
            args += ["-content", str(tmp_path / "content.bin")]
        openssl(*args)
        assert (tmp_path / "out.bin").read_bytes() == content
        verified = hr.request(
            "POST",
            "/v1/cms/verify",
            {"message": out["message"], **({"content": b64(content)} if detached else {})},
        )
        assert verified["valid"] and verified["signer"]["subject"].endswith("CN=hr signer")
    # Tampered content: openssl refuses it too.
    out = hr.request(
        "POST",
        hr.key_url(key) + "/cms-sign",
        {"data": b64(content), "profile": "pkcs7", "uid": "", "detached": True},
    )
    (tmp_path / "bad.bin").write_bytes(content + b"!")
    (tmp_path / "d.p7s").write_bytes(base64.b64decode(out["message"]))
    failed = openssl(
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "d.p7s"),
        "-binary",
        "-noverify",
        "-content",
        str(tmp_path / "bad.bin"),
        "-out",
        "/dev/null",
        check=False,
    )
    assert failed.returncode != 0
    with pytest.raises(VerificationError, match="signature-invalid"):
        hr.request(
            "POST", "/v1/cms/verify", {"message": out["message"], "content": b64(content + b"!")}
        )


def test_cms_gmt0010_profile_checked_by_gmssl(client_for: Make) -> None:
    from crypto.service import der

    key = _signing_key(client_for)
    hr = client_for("hr-app")
    out = hr.request("POST", hr.key_url(key) + "/cms-sign", {"data": b64(b"GM/T 0010 message")})
    blob = base64.b64decode(out["message"])
    top = der.parse(blob)
    assert top.child(0).as_oid() == "1.2.156.10197.6.1.4.2.2"
    signer_info = top.child(1).child(0).children()[-1].child(0).children()
    assert signer_info[4].child(0).as_oid() == "1.2.156.10197.1.301.1"  # sm2-1
    attrs = der.tlv(der.SET, signer_info[3].value)
    assert sm3(b"GM/T 0010 message") in attrs  # messageDigest
    pub = hr.request("GET", hr.key_url(key) + "/public-key")["public_key"]
    from crypto.sm2 import SM2PublicKey

    point = SM2PublicKey.from_pem(pub.encode()).point[1:].hex()
    ref = gm_sm2.CryptSM2(private_key="", public_key=point)  # Z over 1234567812345678
    assert ref.verify_with_sm3(x509.signature_to_raw_hex(signer_info[5].value), attrs)
    assert hr.request("POST", "/v1/cms/verify", {"message": out["message"]})["profile"] == "gmt0010"
    # A signature over another message: refused.
    other = hr.request(
        "POST", hr.key_url(key) + "/cms-sign", {"data": b64(b"other"), "detached": True}
    )
    with pytest.raises(VerificationError, match="signature-invalid"):
        hr.request(
            "POST",
            "/v1/cms/verify",
            {"message": other["message"], "content": b64(b"GM/T 0010 message")},
        )


def _timestamp(kms: RunningService, query: bytes, profile: str) -> bytes:
    response = httpx.post(
        f"{kms.url}/v1/timestamp",
        params={"profile": profile},
        content=query,
        headers={
            "Authorization": f"Bearer {kms.tokens['hr-app']}",
            "content-type": "application/timestamp-query",
            "X-Tulou-Request-Id": secrets.token_hex(12),
            "X-Tulou-Request-Time": str(int(__import__("time").time() * 1000)),
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/timestamp-reply"
    return response.content


@pytest.mark.openssl
def test_timestamps_verify_with_openssl_ts_and_tulou(
    kms: RunningService, client_for: Make, tmp_path: Path
) -> None:
    data = b"compliance report 2026-Q1"
    (tmp_path / "data.bin").write_bytes(data)
    tsa_pem = tmp_path / "tsa.pem"
    tsa_pem.write_text(httpx.get(kms.url + "/v1/pki/tsa").text)
    for digest in ("-sm3", "-sha256"):
        openssl(
            "ts",
            "-query",
            "-data",
            str(tmp_path / "data.bin"),
            digest,
            "-cert",
            "-out",
            str(tmp_path / "q.tsq"),
        )
        query = (tmp_path / "q.tsq").read_bytes()
        for profile in ("openssl", "gmt0033"):
            reply = _timestamp(kms, query, profile)
            (tmp_path / "r.tsr").write_bytes(reply)
            assert (
                "Status: Granted"
                in openssl("ts", "-reply", "-in", str(tmp_path / "r.tsr"), "-text").stdout
            )
            result = openssl(
                "ts",
                "-verify",
                "-in",
                str(tmp_path / "r.tsr"),
                "-queryfile",
                str(tmp_path / "q.tsq"),
                "-CAfile",
                str(tsa_pem),
                "-partial_chain",
                check=False,
            )
            # OpenSSL's PKCS#7 checks SM2 without Z: only the openssl profile passes.
            assert (result.returncode == 0) == (profile == "openssl"), result.stderr
            hr = client_for("hr-app")
            checked = hr.request(
                "POST", "/v1/timestamp/verify", {"token": b64(reply), "data": b64(data)}
            )
            assert checked["valid"] and checked["profile"] == profile
            with pytest.raises(VerificationError, match="signature-invalid"):
                hr.request(
                    "POST", "/v1/timestamp/verify", {"token": b64(reply), "data": b64(data + b"x")}
                )


def test_timestamp_bad_requests_and_nonce(kms: RunningService, client_for: Make) -> None:
    response = httpx.post(
        f"{kms.url}/v1/timestamp",
        content=b"\x30\x03\x02\x01\x01",
        headers={
            "Authorization": f"Bearer {kms.tokens['hr-app']}",
            "X-Tulou-Request-Id": secrets.token_hex(12),
            "X-Tulou-Request-Time": str(int(__import__("time").time() * 1000)),
        },
    )
    assert response.json()["error"]["code"] == "bad-request"
    query = tsa.request(sm3(b"x"), nonce=777)
    reply = _timestamp(kms, query, "gmt0033")
    checked = tsa.verify(reply, data=b"x", nonce=777)
    assert checked.nonce == 777 and checked.profile == "gmt0033"
    with pytest.raises(VerificationError):
        tsa.verify(reply, data=b"x", nonce=778)
    flipped = bytearray(reply)
    flipped[-10] ^= 1
    with pytest.raises((VerificationError, InputError)):
        tsa.verify(bytes(flipped), data=b"x")
    outsider = httpx.post(
        f"{kms.url}/v1/timestamp",
        content=query,
        headers={
            "Authorization": f"Bearer {kms.tokens['outsider']}",
            "X-Tulou-Request-Id": secrets.token_hex(12),
            "X-Tulou-Request-Time": str(int(__import__("time").time() * 1000)),
        },
    )
    assert outsider.json()["error"]["code"] == "denied"
    assert SM2PrivateKey  # the service's own keys never leave it; callers only see certificates
