"""Lab set-up: a runnable copy of gateway/examples with freshly generated keys and certificates.

For demonstrations and the lab only (``tulou lab gateway-example``): the CAs' private keys are
written next to the config (0600) so more devices can be issued. It lives in ``lab`` because
nothing in production may write CA keys; production PKI lives elsewhere (the city CA of the
crypto service).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import gateway
from crypto.sm2 import SM2PrivateKey
from gateway.devices import fingerprint
from tulou.errors import UsageError

EXAMPLES = Path(gateway.__file__).resolve().parent / "examples"
_PEM = serialization.Encoding.PEM


def write_file(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write ``data``; private files are created 0600 (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()  # a new file gets the mode below, whatever the old one had
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def private_key_pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data


def issue_certificate(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    sans: list[x509.GeneralName] | None = None,
    days: int = 365,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def write_example(target: Path, *, owner: str = "alice") -> dict[str, str]:
    """Copy the example config to ``target`` and generate everything it references."""
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} is not empty")
    shutil.copytree(EXAMPLES, target, dirs_exist_ok=True)
    pki, keys = target / "pki", target / "keys"
    server_ca_key = ec.generate_private_key(ec.SECP256R1())
    server_ca = issue_certificate("Tulou Lab Server CA", server_ca_key, None, ca=True, days=730)
    gw_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName("hr.city.test"),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    gw = issue_certificate(
        "tulou-gateway",
        gw_key,
        (server_ca, server_ca_key),
        usage=x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
        sans=sans,
    )
    device_ca_key = ec.generate_private_key(ec.SECP256R1())
    device_ca = issue_certificate("Tulou Lab Device CA", device_ca_key, None, ca=True, days=730)
    laptop_key = ec.generate_private_key(ec.SECP256R1())
    laptop = issue_certificate(
        f"{owner}-laptop",
        laptop_key,
        (device_ca, device_ca_key),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        sans=[x509.DNSName(f"{owner}-laptop.devices.city.test")],
        days=90,
    )
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(device_ca.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=30))
        .sign(device_ca_key, hashes.SHA256())
    )
    write_file(pki / "server-ca.pem", server_ca.public_bytes(_PEM))
    write_file(pki / "server-ca.key", private_key_pem(server_ca_key), private=True)
    write_file(pki / "gateway.pem", gw.public_bytes(_PEM))
    write_file(pki / "gateway.key", private_key_pem(gw_key), private=True)
    write_file(pki / "device-ca.pem", device_ca.public_bytes(_PEM))
    write_file(pki / "device-ca.key", private_key_pem(device_ca_key), private=True)
    write_file(pki / "device.crl", crl.public_bytes(_PEM))
    write_file(pki / f"{owner}-laptop.pem", laptop.public_bytes(_PEM))
    write_file(pki / f"{owner}-laptop.key", private_key_pem(laptop_key), private=True)
    idp_es = ec.generate_private_key(ec.SECP256R1())
    write_file(keys / "idp-es.key", private_key_pem(idp_es), private=True)
    write_file(
        keys / "idp-es.pub.pem",
        idp_es.public_key().public_bytes(_PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )
    for name in ("idp-sm2", "assertion"):
        sm2 = SM2PrivateKey.generate()
        write_file(keys / f"{name}.key", sm2.to_pem(), private=True)
        write_file(keys / f"{name}.pub.pem", sm2.public_key().to_pem())
    inventory = {
        "devices": [
            {
                "fingerprint": fingerprint(laptop),
                "device_id": f"{owner}-laptop",
                "owners": [owner],
                "enrolled": True,
                "os_patch_level": now.strftime("%Y-%m"),
                "disk_encrypted": True,
                "last_checkin": now.isoformat(),
            }
        ]
    }
    (target / "inventory.yaml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    return {
        "config": str(target / "gateway.yaml"),
        "server_ca": str(pki / "server-ca.pem"),
        "device_cert": str(pki / f"{owner}-laptop.pem"),
        "device_key": str(pki / f"{owner}-laptop.key"),
        "issuer_key_es256": str(keys / "idp-es.key"),
        "issuer_key_sm2": str(keys / "idp-sm2.key"),
        "assertion_public_key": str(keys / "assertion.pub.pem"),
    }
