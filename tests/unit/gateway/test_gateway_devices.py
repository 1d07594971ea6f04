"""Device certificate verification: chain, dates, CRL (and its own validity), revocation list."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.devices import DeviceError, DeviceVerifier, fingerprint
from tulou.errors import ConfigError

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str = "CA") -> tuple[x509.Certificate, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(ca: tuple[x509.Certificate, Any], days: int = 5) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(_name("laptop-1"))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("laptop-1.test")]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), False
        )
        .sign(ca[1], hashes.SHA256())
    )


def _crl(ca: tuple[x509.Certificate, Any], serials: list[int], next_update: dt.datetime) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca[0].subject)
        .last_update(NOW - dt.timedelta(days=2))
        .next_update(next_update)
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW).build()
        )
    return builder.sign(ca[1], hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_chain_dates_crl(tmp_path: Path) -> None:
    ca = _ca()
    (tmp_path / "ca.pem").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    good, revoked = _leaf(ca), _leaf(ca)
    (tmp_path / "crl.pem").write_bytes(_crl(ca, [revoked.serial_number], NOW + dt.timedelta(1)))
    verifier = DeviceVerifier(tmp_path / "ca.pem", tmp_path / "crl.pem")
    device = verifier.verify([good])
    assert device.fingerprint == fingerprint(good) and device.device_id == "laptop-1"
    with pytest.raises(DeviceError) as info:
        verifier.verify([revoked])
    assert info.value.code == "revoked"
    with pytest.raises(DeviceError) as info:
        verifier.verify([good], now=NOW + dt.timedelta(days=6))
    assert info.value.code == "expired"
    with pytest.raises(DeviceError) as info:
        verifier.verify([_leaf(_ca("Other"))])
    assert info.value.code == "untrusted"
    with pytest.raises(DeviceError):
        verifier.verify([])
    listed = DeviceVerifier(
        tmp_path / "ca.pem", revoked_fingerprints=frozenset({fingerprint(good)})
    )
    with pytest.raises(DeviceError):
        listed.verify([good])


def test_stale_crl_fails_closed(tmp_path: Path) -> None:
    ca = _ca()
    (tmp_path / "ca.pem").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.pem").write_bytes(_crl(ca, [], NOW - dt.timedelta(hours=1)))
    with pytest.raises(DeviceError) as info:
        DeviceVerifier(tmp_path / "ca.pem", tmp_path / "crl.pem").verify([_leaf(ca)])
    assert info.value.code == "crl-stale"


def test_crl_from_another_ca_is_refused(tmp_path: Path) -> None:
    ca, other = _ca(), _ca("Other")
    (tmp_path / "ca.pem").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.pem").write_bytes(_crl(other, [], NOW + dt.timedelta(1)))
    with pytest.raises(ConfigError, match="not signed"):
        DeviceVerifier(tmp_path / "ca.pem", tmp_path / "crl.pem")
    with pytest.raises(ConfigError):
        DeviceVerifier(tmp_path / "missing.pem")
