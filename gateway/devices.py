"""Device certificates: mitmproxy requests them but never verifies them, so this module does.

A client certificate is accepted only if it chains to the configured device CA (path
validation by ``cryptography.x509.verification``: signatures, validity dates, CA constraints,
key usage for client authentication), is not listed in the device CRL (whose own signature and
``next_update`` are checked: a stale CRL fails closed), and its fingerprint is not on the
revocation list. The result is cached per TLS connection by the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tulou.errors import ConfigError


class DeviceError(Exception):
    """A presented client certificate was refused; ``code`` is a stable audit reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class VerifiedDevice:
    fingerprint: str  # SHA-256 of the leaf DER, lowercase hex
    device_id: str  # the leaf's subject common name (or its fingerprint when absent)
    not_after: datetime


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read certificates: {exc}", location=str(path)) from None
    if not certs:
        raise ConfigError("no certificate found", location=str(path))
    return certs


class DeviceVerifier:
    """Verifies client certificate chains against the device CA(s)."""

    def __init__(
        self,
        ca_file: Path,
        crl_file: Path | None = None,
        revoked_fingerprints: frozenset[str] = frozenset(),
    ) -> None:
        self.roots = _load_certs(ca_file)
        self.store = Store(self.roots)
        self.crl: x509.CertificateRevocationList | None = None
        self.revoked_fingerprints = revoked_fingerprints
        if crl_file is not None:
            try:
                self.crl = x509.load_pem_x509_crl(crl_file.read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read CRL: {exc}", location=str(crl_file)) from None
            if not any(self._crl_signed_by(root) for root in self.roots):
                raise ConfigError("CRL is not signed by the device CA", location=str(crl_file))

    def _crl_signed_by(self, issuer: x509.Certificate) -> bool:
        assert self.crl is not None
        if self.crl.issuer != issuer.subject:
            return False
        try:
            return self.crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def verify(
        self, chain: Sequence[x509.Certificate], now: datetime | None = None
    ) -> VerifiedDevice:
        """Verify ``chain`` (leaf first, as the client sent it). Raises :class:`DeviceError`."""
        if not chain:
            raise DeviceError("no-certificate", "no client certificate")
        moment = now or datetime.now(UTC)
        leaf, intermediates = chain[0], list(chain[1:])
        # Dates first, for a precise audit reason; path validation checks them again (all certs).
        if moment > leaf.not_valid_after_utc:
            raise DeviceError("expired", "device certificate has expired")
        if moment < leaf.not_valid_before_utc:
            raise DeviceError("not-yet-valid", "device certificate is not valid yet")
        verifier = PolicyBuilder().store(self.store).time(moment).build_client_verifier()
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            raise DeviceError("untrusted", f"device certificate rejected: {exc}") from None
        print_ = fingerprint(leaf)
        if print_ in self.revoked_fingerprints:
            raise DeviceError("revoked", "device certificate is on the revocation list")
        if self.crl is not None:
            next_update = self.crl.next_update_utc
            if next_update is not None and next_update < moment:
                raise DeviceError("crl-stale", "the device CRL is past its next update")
            if self.crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
                raise DeviceError("revoked", "device certificate is revoked by the CRL")
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        device_id = str(names[0].value) if names else print_
        return VerifiedDevice(print_, device_id, leaf.not_valid_after_utc)
