"""SM2 X.509: certificates, CSRs and CRLs (RFC 5280 structures, GM/T 0015 algorithms).

Signatures are SM2 with SM3 (``1.2.156.10197.1.501``, parameters absent) computed with the
distinguishing ID ``1234567812345678`` (GM/T 0015 / GB/T 35276). OpenSSL 3.0 signs and
verifies X.509 SM2 signatures with an *empty* ID unless told otherwise, so with OpenSSL these
certificates verify as ``openssl verify -vfyopt distid:1234567812345678 ...``. CSRs are
accepted signed with either ID (``openssl req`` without ``-sigopt distid:`` uses the empty
one); a CSR signature only proves possession of the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from crypto.service import der
from crypto.sm2 import DEFAULT_UID, SM2PublicKey
from tulou.errors import InputError, TulouError, VerificationError

SM2_SM3: Final = "1.2.156.10197.1.501"
SM3: Final = "1.2.156.10197.1.401"
EXT_BASIC: Final = "2.5.29.19"
EXT_KEY_USAGE: Final = "2.5.29.15"
EXT_EKU: Final = "2.5.29.37"
EXT_SKI: Final = "2.5.29.14"
EXT_AKI: Final = "2.5.29.35"
EXT_SAN: Final = "2.5.29.17"
EXT_CRL_DP: Final = "2.5.29.31"
EXT_CRL_NUMBER: Final = "2.5.29.20"
EXT_REASON: Final = "2.5.29.21"
EKU: Final = {
    "serverAuth": "1.3.6.1.5.5.7.3.1",
    "clientAuth": "1.3.6.1.5.5.7.3.2",
    "codeSigning": "1.3.6.1.5.5.7.3.3",
    "emailProtection": "1.3.6.1.5.5.7.3.4",
    "timeStamping": "1.3.6.1.5.5.7.3.8",
}
#: keyUsage bits (RFC 5280 clause 4.2.1.3), bit 0 = digitalSignature.
KEY_USAGE_BITS: Final = {
    "digitalSignature": 0, "nonRepudiation": 1, "keyEncipherment": 2, "dataEncipherment": 3,
    "keyAgreement": 4, "keyCertSign": 5, "cRLSign": 6,
}  # fmt: skip
REASONS: Final = {
    "unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3,
    "superseded": 4, "cessationOfOperation": 5, "certificateHold": 6,
}  # fmt: skip

#: Signs the DER given (the TBS) and returns a DER SM2 signature.
Signer = Callable[[bytes], bytes]


def algorithm() -> bytes:
    return der.seq(der.oid(SM2_SM3))


def extension(ext_oid: str, value: bytes, *, critical: bool = False) -> bytes:
    parts = [der.oid(ext_oid)]
    if critical:
        parts.append(der.boolean(True))
    return der.seq(*parts, der.octets(value))


def key_usage(names: list[str]) -> bytes:
    value = 0
    for item in names:
        value |= 1 << (15 - KEY_USAGE_BITS[item])
    raw = value.to_bytes(2, "big").rstrip(b"\0") or b"\0"
    last = raw[-1]
    unused = (last & -last).bit_length() - 1 if last else 0
    return der.bits(raw, unused)


def key_id(public: SM2PublicKey) -> bytes:
    """Key identifier: SHA-1 of the public key bits (RFC 5280 clause 4.2.1.2 method 1)."""
    return hashlib.sha1(public.point, usedforsecurity=False).digest()


def signed(tbs: bytes, sign: Signer) -> bytes:
    return der.seq(tbs, algorithm(), der.bits(sign(tbs)))


@dataclass(frozen=True)
class Certificate:
    raw: bytes
    tbs: bytes
    serial: int
    issuer: der.Node
    subject: der.Node
    not_before: datetime
    not_after: datetime
    public_key: SM2PublicKey
    signature: bytes
    extensions: dict[str, tuple[bool, bytes]]

    @property
    def subject_text(self) -> str:
        return der.name_text(self.subject)

    @property
    def issuer_text(self) -> str:
        return der.name_text(self.issuer)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def is_ca(self) -> bool:
        found = self.extensions.get(EXT_BASIC)
        if found is None:
            return False
        body = der.parse(found[1]).children()
        return bool(body) and body[0].tag == der.BOOLEAN and body[0].value == b"\xff"

    def eku(self) -> set[str]:
        found = self.extensions.get(EXT_EKU)
        return set() if found is None else {n.as_oid() for n in der.parse(found[1]).children()}

    def verify_signed_by(self, issuer_key: SM2PublicKey, uid: bytes = DEFAULT_UID) -> None:
        issuer_key.verify(self.signature, self.tbs, uid=uid)

    def pem(self) -> str:
        return pem("CERTIFICATE", self.raw)


def pem(label: str, data: bytes) -> str:
    import base64  # noqa: PLC0415

    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"


def unpem(text: str | bytes, label: str) -> bytes:
    import base64  # noqa: PLC0415
    import binascii  # noqa: PLC0415

    data = text.decode("ascii", errors="replace") if isinstance(text, bytes) else text
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    start, stop = data.find(begin), data.find(end)
    if start < 0 or stop < start:
        raise InputError(f"no PEM {label} block")
    try:
        return base64.b64decode("".join(data[start + len(begin) : stop].split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"PEM {label}: invalid base64") from None


def _spki(node: der.Node) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_der(node.raw)
    except TulouError:
        raise InputError("the public key is not an SM2 key") from None


def parse_certificate(data: bytes) -> Certificate:
    try:
        top = der.parse(data, "certificate")
        tbs, alg, sig = top.children()
        fields = tbs.children()
        index = 1 if fields[0].tag == 0xA0 else 0
        if index == 0 or fields[0].child(0).as_int() != 2:
            raise InputError("only X.509 v3 certificates are accepted")
        serial = fields[index].as_int()
        if alg.child(0).as_oid() != SM2_SM3 or fields[index + 1].child(0).as_oid() != SM2_SM3:
            raise InputError("the certificate is not signed with SM2-with-SM3")
        validity = fields[index + 3].children()
        extensions: dict[str, tuple[bool, bytes]] = {}
        for extra in fields[index + 6 :]:
            if extra.tag == 0xA3:
                for ext in extra.child(0).children():
                    parts = ext.children()
                    critical = len(parts) == 3 and parts[1].value == b"\xff"
                    ext_oid = parts[0].as_oid()
                    if ext_oid in extensions:
                        raise InputError(f"duplicate extension {ext_oid}")
                    extensions[ext_oid] = (critical, parts[-1].value)
        return Certificate(
            raw=data,
            tbs=tbs.raw,
            serial=serial,
            issuer=fields[index + 2],
            subject=fields[index + 4],
            not_before=validity[0].as_time(),
            not_after=validity[1].as_time(),
            public_key=_spki(fields[index + 5]),
            signature=sig.as_bits(),
            extensions=extensions,
        )
    except (IndexError, ValueError) as exc:
        raise InputError(f"not an X.509 certificate ({type(exc).__name__})") from None


@dataclass(frozen=True)
class Csr:
    subject: der.Node
    public_key: SM2PublicKey
    requested_extensions: bytes | None


def parse_csr(data: bytes) -> Csr:
    """Parse a PKCS#10 CSR and check its SM2 signature (proof of possession)."""
    try:
        top = der.parse(data, "CSR")
        info, alg, sig = top.children()
        version, subject, spki, *rest = info.children()
        if version.as_int() != 0:
            raise InputError("CSR version must be 0")
        if alg.child(0).as_oid() != SM2_SM3:
            raise InputError("the CSR is not signed with SM2-with-SM3")
        public = _spki(spki)
        signature = sig.as_bits()
    except (IndexError, ValueError) as exc:
        raise InputError(f"not a PKCS#10 CSR ({type(exc).__name__})") from None
    for uid in (DEFAULT_UID, b""):
        try:
            public.verify(signature, info.raw, uid=uid)
            break
        except VerificationError:
            continue
    else:
        raise VerificationError("the CSR signature does not verify")
    requested = None
    for attrs in rest:
        for attr in attrs.children():
            if attr.child(0).as_oid() == "1.2.840.113549.1.9.14":
                requested = attr.child(1).child(0).raw
    return Csr(subject, public, requested)


@dataclass(frozen=True)
class Crl:
    raw: bytes
    tbs: bytes
    issuer: der.Node
    this_update: datetime
    next_update: datetime
    revoked: dict[int, datetime]
    number: int | None
    signature: bytes


def parse_crl(data: bytes) -> Crl:
    try:
        tbs, alg, sig = der.parse(data, "CRL").children()
        fields = tbs.children()
        if fields[0].tag != der.INTEGER or fields[0].as_int() != 1:
            raise InputError("only v2 CRLs are accepted")
        if alg.child(0).as_oid() != SM2_SM3:
            raise InputError("the CRL is not signed with SM2-with-SM3")
        issuer, this_update, next_update = fields[2], fields[3].as_time(), fields[4].as_time()
        revoked: dict[int, datetime] = {}
        number = None
        for extra in fields[5:]:
            if extra.tag == der.SEQUENCE:
                for entry in extra.children():
                    parts = entry.children()
                    revoked[parts[0].as_int()] = parts[1].as_time()
            elif extra.tag == 0xA0:
                for ext in extra.child(0).children():
                    parts = ext.children()
                    if parts[0].as_oid() == EXT_CRL_NUMBER:
                        number = der.parse(parts[-1].value).as_int()
        return Crl(data, tbs.raw, issuer, this_update, next_update, revoked, number, sig.as_bits())
    except (IndexError, ValueError) as exc:
        raise InputError(f"not an X.509 CRL ({type(exc).__name__})") from None


def signature_to_raw_hex(signature: bytes) -> str:
    """A DER SM2 signature as the hex ``r || s`` that gmssl and JOSE use."""
    from crypto.sm2 import signature_to_raw  # noqa: PLC0415

    return signature_to_raw(signature).hex()
