"""The city range's lab PKI and keys: made fresh at every start, written under the range's work dir.

What is made (all private keys 0600, PKCS#8 / SM2 PEM)::

    pki/server-ca.pem            the CA clients trust for the gateway's TLS certificate
    pki/gateway.pem|.key         the gateway's certificate (every city host + 127.0.0.1)
    pki/device-ca.pem|.key       the device CA client certificates must chain to
    pki/device.crl               its CRL, listing the revoked device
    pki/<device>.pem|.key        one client certificate per lab device (see DEVICES)
    keys/idp-es.key|.pub.pem     the identity provider's ES256 key   (kid es-1)
    keys/idp-sm2.key|.pub.pem    the identity provider's SM2 key     (kid sm-1, alg SM2SM3)
    keys/assertion.key|.pub.pem  the gateway's SM2 identity-assertion key (apps verify with .pub)
    keys/<system>.key|.pub.pem   SM2 envelope keys of the systems (see SYSTEMS)

For the lab only: CA keys sit next to the certificates so more devices could be issued.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from crypto.sm2 import SM2PrivateKey
from gateway.devices import fingerprint
from lab.gateway_kit import issue_certificate, private_key_pem, write_file

#: Host names the gateway serves (its certificate names them all).
HOSTS = ("portal.city.test", "exchange.city.test", "admin.city.test")

#: Lab devices: name -> owners in the inventory; None = NOT in the inventory.
#: ``revoked-laptop`` is enrolled but its certificate is on the CRL; ``unmanaged-laptop``
#: chains to the device CA but was never enrolled; ``civil-affairs-sys`` is the sending
#: system's machine certificate (enrolled, no human owner).
DEVICES: dict[str, tuple[str, ...] | None] = {
    "alice-laptop": ("alice",),
    "bob-laptop": ("bob",),
    "dave-laptop": ("dave",),
    "civil-affairs-sys": (),
    "revoked-laptop": ("mallory",),
    "unmanaged-laptop": None,
}
REVOKED_DEVICE = "revoked-laptop"

#: Envelope identities: this range's gateway, the peer system it trusts, and an intruder.
SYSTEMS = ("city-gw", "civil-affairs-gw", "intruder-gw")

_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class DeviceFiles:
    name: str
    cert: Path
    key: Path
    fingerprint: str


@dataclass
class RangePki:
    """Paths of everything :func:`make_pki` wrote."""

    root: Path
    devices: dict[str, DeviceFiles] = field(default_factory=dict)

    @property
    def server_ca(self) -> Path:
        return self.root / "pki" / "server-ca.pem"

    def key(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.key"

    def public(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.pub.pem"


def _public_pem(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(
        _PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def _certificate(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    sans: list[x509.GeneralName] | None = None,
    days: int = 30,
) -> x509.Certificate:
    """A CA (``issuer`` None) or a leaf fitting the gateway's verifier profile (docs/gateway.md)."""
    return issue_certificate(cn, key, issuer, ca=issuer is None, usage=usage, sans=sans, days=days)


def make_pki(root: Path) -> RangePki:
    """Generate the range's certificates and keys under ``root`` (see the module docstring)."""
    pki_dir, keys = root / "pki", root / "keys"
    made = RangePki(root)
    server_ca_key = ec.generate_private_key(ec.SECP256R1())
    server_ca = _certificate("Tulou City Range Server CA", server_ca_key, None)
    gateway_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in HOSTS]
    names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    gateway = _certificate(
        "tulou-city-gateway",
        gateway_key,
        (server_ca, server_ca_key),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=names,
    )
    write_file(pki_dir / "server-ca.pem", server_ca.public_bytes(_PEM))
    write_file(pki_dir / "server-ca.key", private_key_pem(server_ca_key), private=True)
    write_file(pki_dir / "gateway.pem", gateway.public_bytes(_PEM))
    write_file(pki_dir / "gateway.key", private_key_pem(gateway_key), private=True)

    device_ca_key = ec.generate_private_key(ec.SECP256R1())
    device_ca = _certificate("Tulou City Range Device CA", device_ca_key, None)
    write_file(pki_dir / "device-ca.pem", device_ca.public_bytes(_PEM))
    write_file(pki_dir / "device-ca.key", private_key_pem(device_ca_key), private=True)
    revoked_serials: list[int] = []
    for device in DEVICES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(
            device,
            key,
            (device_ca, device_ca_key),
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            sans=[x509.DNSName(f"{device}.devices.city.test")],
        )
        if device == REVOKED_DEVICE:
            revoked_serials.append(cert.serial_number)
        made.devices[device] = DeviceFiles(
            device,
            write_file(pki_dir / f"{device}.pem", cert.public_bytes(_PEM)),
            write_file(pki_dir / f"{device}.key", private_key_pem(key), private=True),
            fingerprint(cert),
        )
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(device_ca.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=7))
    )
    for serial in revoked_serials:
        crl = crl.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    write_file(pki_dir / "device.crl", crl.sign(device_ca_key, hashes.SHA256()).public_bytes(_PEM))

    idp_es = ec.generate_private_key(ec.SECP256R1())
    write_file(keys / "idp-es.key", private_key_pem(idp_es), private=True)
    write_file(keys / "idp-es.pub.pem", _public_pem(idp_es))
    for name in ("idp-sm2", "assertion", *SYSTEMS):
        sm2 = SM2PrivateKey.generate()
        write_file(keys / f"{name}.key", sm2.to_pem(), private=True)
        write_file(keys / f"{name}.pub.pem", sm2.public_key().to_pem())
    return made
