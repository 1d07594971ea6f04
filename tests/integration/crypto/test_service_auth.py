"""Callers of the real service: the gateway's SM2 identity assertion (signed by the gateway's
own AssertionSigner) and service tokens bound to mTLS client certificates."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto.service.client import KmsClient
from crypto.sm2 import SM2PrivateKey
from gateway.assertion import AssertionSigner
from tests.fixtures.cryptoservice import RunningService, start_service
from tulou.errors import VerificationError

GATEWAY_KEY = SM2PrivateKey.generate()


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_cert: Path
    other_key: Path
    client_sha256: str


def _cert(
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    *,
    ca: bool,
    server: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return key, builder.sign(issuer_key if issuer else key, hashes.SHA256())


def _write(
    path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path.with_suffix(".pem"), path.with_suffix(".key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = _cert("test CA", ec.generate_private_key(ec.SECP256R1()), None, ca=True)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_cert.subject)
        .issuer_name(ca_cert.subject)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(ca_cert.not_valid_before_utc)
        .not_valid_after(ca_cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (tmp / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server = _write(
        tmp / "server", *_cert("127.0.0.1", ca_key, ca_cert.subject, ca=False, server=True)
    )
    client_key, client_cert = _cert("hr-app", ca_key, ca_cert.subject, ca=False)
    client = _write(tmp / "client", client_key, client_cert)
    other = _write(tmp / "other", *_cert("thief", ca_key, ca_cert.subject, ca=False))
    digest = hashlib.sha256(client_cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return Pki(tmp / "ca.pem", *server, *client, *other, digest)


@pytest.fixture(scope="module")
def secure_kms(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RunningService]:
    tmp = tmp_path_factory.mktemp("securekms")
    (tmp / "gateway.pub.pem").write_bytes(GATEWAY_KEY.public_key().to_pem())
    extra = (
        f'[tls]\ncert = "{pki.server_cert}"\nkey = "{pki.server_key}"\nclient_ca = "{pki.ca}"\n'
        f'[gateway]\npublic_key = "{tmp / "gateway.pub.pem"}"\n'
        'issuer = "tulou-gateway"\naudience = "crypto"\n'
    )
    accounts = {
        "admin": {"roles": ["kms-admin"]},
        "hr-app": {"client_cert_sha256": [pki.client_sha256]},
    }
    policy = [
        {"id": "admin", "callers": ["role:kms-admin"], "operations": ["*"]},
        {
            "id": "clerks",
            "callers": ["group:hr-clerks"],
            "tenants": ["hr"],
            "keys": ["records/*"],
            "operations": ["encrypt", "decrypt"],
        },
        {
            "id": "app",
            "callers": ["service:hr-app"],
            "tenants": ["hr"],
            "keys": ["records/*"],
            "operations": ["encrypt"],
        },
    ]
    with start_service(
        tmp,
        accounts,
        policy,
        extra=extra,
        scheme="https",
        verify=ssl.create_default_context(cafile=str(pki.ca)),
    ) as running:
        admin = KmsClient(running.url, running.tokens["admin"], ca=pki.ca)
        admin.request("POST", "/v1/tenants", {"tenant": "hr"})
        admin.request("POST", "/v1/tenants/hr/rings", {"ring": "records"})
        admin.create_key("hr/records/files", "sm4")
        admin.close()
        yield running


def _assertion(
    subject: str | None,
    path: str,
    *,
    method: str = "POST",
    groups: tuple[str, ...] = ("hr-clerks",),
    key: SM2PrivateKey = GATEWAY_KEY,
    audience: str = "crypto",
) -> str:
    signer = AssertionSigner(key, "tulou-gateway", "gw", 60)
    extra = {"rule": "crypto", "groups": list(groups), "roles": [], "method": method, "path": path}
    return signer.sign(audience=audience, subject=subject, extra=extra)


def _headers(**more: str) -> dict[str, str]:
    return {
        "X-Tulou-Request-Id": secrets.token_hex(12),
        "X-Tulou-Request-Time": str(int(time.time() * 1000)),
        **more,
    }


def test_gateway_assertion_caller(secure_kms: RunningService, pki: Pki) -> None:
    path = "/v1/keys/hr/records/files/encrypt"
    body = {"plaintext": base64.b64encode(b"form 12").decode()}
    ok = httpx.post(
        secure_kms.url + path,
        json=body,
        verify=ssl.create_default_context(cafile=str(pki.ca)),
        headers=_headers(**{"X-Tulou-Identity": _assertion("alice", path)}),
    )
    assert ok.status_code == 200, ok.text
    event = [e for e in secure_kms.audit() if e.get("user.name") == "user:alice"][-1]
    assert (event["tulou.caller.via"], event["event.outcome"]) == ("gateway", "success")
    cases = {
        "another path": _assertion("alice", "/v1/keys/hr/records/files/decrypt"),
        "another method": _assertion("alice", path, method="GET"),
        "another key": _assertion("alice", path, key=SM2PrivateKey.generate()),
        "another audience": _assertion("alice", path, audience="hr"),
        "anonymous": _assertion(None, path),
        "garbage": "a.b.c",
    }
    for case, token in cases.items():
        response = httpx.post(
            secure_kms.url + path,
            json=body,
            verify=ssl.create_default_context(cafile=str(pki.ca)),
            headers=_headers(**{"X-Tulou-Identity": token}),
        )
        assert (response.status_code, response.json()["error"]["code"]) == (
            401,
            "unauthenticated",
        ), case
    not_a_clerk = _assertion("bob", path, groups=("visitors",))
    response = httpx.post(
        secure_kms.url + path,
        json=body,
        verify=ssl.create_default_context(cafile=str(pki.ca)),
        headers=_headers(**{"X-Tulou-Identity": not_a_clerk}),
    )
    assert response.json()["error"]["code"] == "denied"
    assert [e for e in secure_kms.audit() if e.get("user.name") == "user:bob"][-1][
        "error.code"
    ] == "denied"


def test_token_bound_to_a_client_certificate(secure_kms: RunningService, pki: Pki) -> None:
    token = secure_kms.tokens["hr-app"]
    with KmsClient(
        secure_kms.url, token, ca=pki.ca, client_cert=(pki.client_cert, pki.client_key)
    ) as good:
        assert good.encrypt("hr/records/files", b"x")["version"] == 1
    with (
        KmsClient(secure_kms.url, token, ca=pki.ca) as no_cert,
        pytest.raises(VerificationError, match="mTLS"),
    ):
        no_cert.encrypt("hr/records/files", b"x")
    stolen = KmsClient(
        secure_kms.url, token, ca=pki.ca, client_cert=(pki.other_cert, pki.other_key)
    )
    with stolen, pytest.raises(VerificationError, match="not bound"):
        stolen.encrypt("hr/records/files", b"x")
    events = [e for e in secure_kms.audit() if e.get("error.code") == "unauthenticated"]
    assert len(events) >= 2 and token not in (secure_kms.data_dir / "audit.jsonl").read_text()
