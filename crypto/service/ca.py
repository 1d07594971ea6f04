"""The city CA run by the service: SM2 certificates from CSRs, revocation, CRLs, validation.

The CA's key is an ordinary SM2 key of the service (``city/pki/ca``, non-exportable), so it
has the same lifecycle, policy and audit as every other key; the self-signed root is made on
first start. Issued certificates are records under ``pki/certs/<serial>.json`` (serial, subject,
validity, SHA-256 fingerprint, who asked, status, revocation time and reason), committed
before the certificate is returned, so every certificate in circulation is on record and
revocable. The CRL is rebuilt (number + 1) after a revocation and when half its validity has
passed.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crypto.service import der, x509
from crypto.service.errors import ServiceError
from crypto.service.records import RecordStore
from crypto.service.vault import KeyPath, Vault
from crypto.sm2 import DEFAULT_UID, SM2PublicKey
from tulou.errors import InputError, TulouError, VerificationError

CA_KEY = KeyPath("city", "pki", "ca")
PROFILES: dict[str, tuple[list[str], list[str]]] = {
    "client": (["digitalSignature"], ["clientAuth"]),
    "server": (["digitalSignature", "keyEncipherment"], ["serverAuth"]),
    "signing": (["digitalSignature", "nonRepudiation"], ["emailProtection"]),
    "encryption": (["keyEncipherment", "dataEncipherment"], []),
    "tsa": (["digitalSignature", "nonRepudiation"], ["timeStamping"]),
}


def ensure_key(vault: Vault, path: KeyPath) -> None:
    """Create tenant, ring and SM2 key ``path`` if absent (first start)."""
    steps: list[Callable[[], object]] = [
        lambda: vault.create_tenant(path.tenant, by="service"),
        lambda: vault.create_ring(path.tenant, path.ring, by="service"),
        lambda: vault.create_key(path, "sm2", by="service"),
    ]
    for step in steps:
        try:
            step()
        except ServiceError as exc:
            if exc.code != "exists":
                raise


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    record: dict[str, Any]


class CityCA:
    def __init__(
        self,
        vault: Vault,
        records: RecordStore,
        *,
        name: str,
        validity_days: int,
        cert_days: int,
        crl_hours: int,
    ) -> None:
        self.vault, self.records = vault, records
        self.cert_days, self.crl_hours = cert_days, crl_hours
        self._lock = threading.Lock()
        self._crl: x509.Crl | None = None
        ensure_key(vault, CA_KEY)
        state = records.load("pki/ca.json")
        if state is None:
            state = records.commit(
                "pki/ca.json",
                {
                    "certificate": base64.b64encode(self._root(name, validity_days)).decode(),
                    "crl_number": 0,
                },
            )
        self._state = state
        self.certificate = x509.parse_certificate(base64.b64decode(state["certificate"]))

    def _sign(self, tbs: bytes) -> bytes:
        material = self.vault.material(CA_KEY, "sign")
        assert material.private is not None
        return material.private.sign(tbs, uid=DEFAULT_UID)

    def _root(self, name: str, days: int) -> bytes:
        _, public = self.vault.public_key(CA_KEY)
        subject = der.name([("C", "CN"), ("O", "Tulou"), ("CN", name)])
        now = datetime.now(UTC).replace(microsecond=0)
        ski = x509.key_id(public)
        extensions = [
            x509.extension(x509.EXT_BASIC, der.seq(der.boolean(True)), critical=True),
            x509.extension(
                x509.EXT_KEY_USAGE, x509.key_usage(["keyCertSign", "cRLSign"]), critical=True
            ),
            x509.extension(x509.EXT_SKI, der.octets(ski)),
        ]
        tbs = self._tbs(
            _serial(),
            subject,
            subject,
            now - timedelta(minutes=5),
            now + timedelta(days=days),
            public.to_der(),
            extensions,
        )
        return x509.signed(tbs, self._sign)

    @staticmethod
    def _tbs(  # noqa: PLR0917 - the TBSCertificate fields, in their order
        serial: int,
        issuer: bytes,
        subject: bytes,
        not_before: datetime,
        not_after: datetime,
        spki: bytes,
        extensions: list[bytes],
    ) -> bytes:
        return der.seq(
            der.explicit(0, der.integer(2)),
            der.integer(serial),
            x509.algorithm(),
            issuer,
            der.seq(der.time_value(not_before), der.time_value(not_after)),
            subject,
            spki,
            der.explicit(3, der.seq(*extensions)),
        )

    def issue_for_key(
        self,
        subject: bytes,
        public: SM2PublicKey,
        *,
        profile: str,
        by: str,
        dns: tuple[str, ...] = (),
        days: int | None = None,
    ) -> Issued:
        if profile not in PROFILES:
            raise ServiceError(
                "bad-request", f"unknown profile {profile!r} ({', '.join(PROFILES)})"
            )
        usages, ekus = PROFILES[profile]
        now = datetime.now(UTC).replace(microsecond=0)
        not_after = now + timedelta(days=days or self.cert_days)
        not_after = min(not_after, self.certificate.not_after)
        extensions = [
            x509.extension(x509.EXT_BASIC, der.seq(), critical=True),
            x509.extension(x509.EXT_KEY_USAGE, x509.key_usage(usages), critical=True),
            x509.extension(x509.EXT_SKI, der.octets(x509.key_id(public))),
            x509.extension(
                x509.EXT_AKI,
                der.seq(
                    der.implicit(0, x509.key_id(self.certificate.public_key), constructed=False)
                ),
            ),
        ]
        if ekus:
            extensions.append(
                x509.extension(
                    x509.EXT_EKU,
                    der.seq(*(der.oid(x509.EKU[e]) for e in ekus)),
                    critical=profile == "tsa",
                )
            )
        if dns:
            extensions.append(
                x509.extension(
                    x509.EXT_SAN,
                    der.seq(*(der.implicit(2, d.encode("ascii"), constructed=False) for d in dns)),
                )
            )
        serial = _serial()
        tbs = self._tbs(
            serial,
            self.certificate.subject.raw,
            subject,
            now - timedelta(minutes=5),
            not_after,
            public.to_der(),
            extensions,
        )
        raw = x509.signed(tbs, self._sign)
        cert = x509.parse_certificate(raw)
        record = {
            "serial": f"{serial:x}",
            "subject": cert.subject_text,
            "profile": profile,
            "requested_by": by,
            "not_before": cert.not_before.isoformat(),
            "not_after": cert.not_after.isoformat(),
            "sha256": cert.fingerprint,
            "status": "good",
            "certificate": base64.b64encode(raw).decode(),
        }
        try:
            written = self.records.create(f"pki/certs/{serial:x}.json", record)
        except FileExistsError:
            raise ServiceError("exists", "serial collision; retry") from None
        return Issued(cert, written)

    def issue(
        self,
        csr_der: bytes,
        *,
        profile: str,
        by: str,
        dns: tuple[str, ...] = (),
        days: int | None = None,
    ) -> Issued:
        try:
            csr = x509.parse_csr(csr_der)
        except (InputError, VerificationError) as exc:
            raise ServiceError("csr-invalid", exc.message) from None
        return self.issue_for_key(
            csr.subject.raw, csr.public_key, profile=profile, by=by, dns=dns, days=days
        )

    def record(self, serial: str) -> dict[str, Any]:
        try:
            number = int(serial, 16)
        except ValueError:
            raise ServiceError("bad-request", "a serial is hexadecimal") from None
        found = self.records.load(f"pki/certs/{number:x}.json")
        if found is None:
            raise ServiceError("not-found", f"no certificate with serial {serial}")
        return found

    def revoke(self, serial: str, reason: str, *, by: str) -> dict[str, Any]:
        if reason not in x509.REASONS:
            raise ServiceError("bad-request", f"unknown reason {reason!r}")
        with self._lock:
            record = self.record(serial)
            if record["status"] == "revoked":
                raise ServiceError("exists", f"certificate {serial} is already revoked")
            record = {
                **record,
                "status": "revoked",
                "revoked_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "reason": reason,
                "revoked_by": by,
            }
            written = self.records.commit(f"pki/certs/{record['serial']}.json", record)
            self._crl = None
            return written

    def revoked(self) -> list[dict[str, Any]]:
        out = []
        for name in self.records.children("pki/certs"):
            record = self.records.load(f"pki/certs/{name}.json")
            if record is not None and record["status"] == "revoked":
                out.append(record)
        return out

    def crl(self) -> x509.Crl:
        """The current CRL (rebuilt after a revocation and at half its validity)."""
        with self._lock:
            now = datetime.now(UTC)
            current = self._crl
            if (
                current is not None
                and now < current.this_update + (current.next_update - current.this_update) / 2
            ):
                return current
            state = dict(self._state)
            state["crl_number"] = int(state["crl_number"]) + 1
            entries = []
            for record in self.revoked():
                moment = datetime.fromisoformat(record["revoked_at"])
                reason = der.tlv(der.ENUMERATED, bytes([x509.REASONS[record["reason"]]]))
                entries.append(
                    der.seq(
                        der.integer(int(record["serial"], 16)),
                        der.time_value(moment),
                        der.seq(x509.extension(x509.EXT_REASON, reason)),
                    )
                )
            this_update = now.replace(microsecond=0)
            parts = [
                der.integer(1),
                x509.algorithm(),
                self.certificate.subject.raw,
                der.time_value(this_update),
                der.time_value(this_update + timedelta(hours=self.crl_hours)),
            ]
            if entries:
                parts.append(der.seq(*entries))
            aki = der.seq(
                der.implicit(0, x509.key_id(self.certificate.public_key), constructed=False)
            )
            parts.append(
                der.explicit(
                    0,
                    der.seq(
                        x509.extension(x509.EXT_AKI, aki),
                        x509.extension(x509.EXT_CRL_NUMBER, der.integer(state["crl_number"])),
                    ),
                )
            )
            raw = x509.signed(der.seq(*parts), self._sign)
            self._state = self.records.commit("pki/ca.json", state)
            self._crl = x509.parse_crl(raw)
            return self._crl

    def validate(self, cert_der: bytes, *, at: datetime | None = None) -> dict[str, Any]:
        """Chain to the city CA, validity, revocation; raise a ``certificate-*`` ServiceError."""
        moment = at or datetime.now(UTC)
        try:
            cert = x509.parse_certificate(cert_der)
        except InputError as exc:
            raise ServiceError("certificate-invalid", exc.message) from None
        root = self.certificate
        if cert.issuer.raw != root.subject.raw:
            raise ServiceError("certificate-invalid", f"not issued by {root.subject_text}")
        try:
            cert.verify_signed_by(root.public_key)
        except (VerificationError, InputError):
            raise ServiceError("certificate-invalid", "the CA signature does not verify") from None
        for which, item in (("certificate", cert), ("CA certificate", root)):
            if not item.not_before <= moment <= item.not_after:
                raise ServiceError(
                    "certificate-expired",
                    f"the {which} is valid {item.not_before:%Y-%m-%d %H:%M} "
                    f"to {item.not_after:%Y-%m-%d %H:%M} UTC",
                )
        if cert.is_ca():
            raise ServiceError(
                "certificate-invalid", "a CA certificate is not an end-entity certificate"
            )
        try:
            record = self.record(f"{cert.serial:x}")
        except ServiceError:
            raise ServiceError(
                "certificate-invalid", "the CA has no record of this certificate"
            ) from None
        if record["sha256"] != cert.fingerprint:
            raise ServiceError("certificate-invalid", "the certificate differs from the one issued")
        if record["status"] == "revoked":
            raise ServiceError(
                "certificate-revoked", f"revoked at {record['revoked_at']} ({record['reason']})"
            )
        return {
            "valid": True,
            "serial": f"{cert.serial:x}",
            "subject": cert.subject_text,
            "not_after": cert.not_after.isoformat(),
            "issuer": cert.issuer_text,
        }


def _serial() -> int:
    """A positive 127-bit random serial (RFC 5280: at most 20 octets, unpredictable)."""
    return secrets.randbits(127) | 1 << 126


def public_key_of(pem_text: str) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_pem(pem_text.encode())
    except TulouError:
        raise ServiceError("bad-request", "not an SM2 public key (PEM)") from None
