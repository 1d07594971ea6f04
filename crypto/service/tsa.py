"""RFC 3161 time-stamp tokens with SM2/SM3 (the GM/T 0033 profile), issued and verified.

A token is a SignedData (:mod:`crypto.service.cms`, RFC 5652 object identifiers, as RFC 3161
requires) whose content is a ``TSTInfo`` (``1.2.840.113549.1.9.16.1.4``): version 1, the TSA
policy, the request's message imprint (SM3 or SHA-256), a random 127-bit serial, genTime to
the millisecond, accuracy 1 s, the request nonce, the TSA name. Signed attributes carry
``signingCertificateV2`` (RFC 5816) with the SM3 hash of the TSA certificate.

Signature profiles: ``gmt0033`` (default) signs ``e = SM3(Z(ID) || signedAttrs)`` with the ID
``1234567812345678``, as GB/T 32918 and GM/T 0033 require. OpenSSL 3.0 verifies SM2 in
PKCS#7 (and so ``openssl ts -verify``) over ``SM3(signedAttrs)`` *without* Z; tokens for
``openssl ts -verify`` are therefore issued in the ``openssl`` profile, signed that way. Both
verify with :func:`verify`, which reports the profile. (docs/crypto.md, "Timestamps".)
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from crypto.service import cms, der, x509
from crypto.sm2 import DEFAULT_UID
from crypto.sm3 import sm3
from tulou.errors import InputError, VerificationError

TST_INFO: Final = "1.2.840.113549.1.9.16.1.4"
SIGNING_CERT_V2: Final = "1.2.840.113549.1.9.16.2.47"
SHA256: Final = "2.16.840.1.101.3.4.2.1"
IMPRINT_SIZES: Final = {x509.SM3: 32, SHA256: 32}
PROFILES: Final = ("gmt0033", "openssl")


@dataclass(frozen=True)
class Request:
    hash_oid: str
    imprint: bytes
    nonce: int | None
    cert_req: bool
    policy: str | None


def parse_request(data: bytes) -> Request:
    try:
        fields = der.parse(data, "TimeStampReq").children()
        if fields[0].as_int() != 1:
            raise InputError("TimeStampReq version must be 1")
        imprint = fields[1].children()
        hash_oid = imprint[0].child(0, der.OID).as_oid()
        hashed = imprint[1]
        policy = nonce = None
        cert_req = False
        for item in fields[2:]:
            if item.tag == der.OID:
                policy = item.as_oid()
            elif item.tag == der.INTEGER:
                nonce = item.as_int()
            elif item.tag == der.BOOLEAN:
                cert_req = item.value == b"\xff"
            elif item.tag == 0xA0:
                raise InputError("TimeStampReq extensions are not supported")
    except (IndexError, ValueError) as exc:
        raise InputError(f"not a TimeStampReq ({type(exc).__name__})") from None
    if hash_oid not in IMPRINT_SIZES:
        raise InputError(f"unsupported imprint hash {hash_oid} (SM3 or SHA-256)")
    if hashed.tag != der.OCTET_STRING or len(hashed.value) != IMPRINT_SIZES[hash_oid]:
        raise InputError("the message imprint has the wrong length")
    return Request(hash_oid, hashed.value, nonce, cert_req, policy)


def request(
    imprint: bytes, *, hash_oid: str = x509.SM3, nonce: int | None = None, cert_req: bool = True
) -> bytes:
    """A TimeStampReq (for clients and tests)."""
    parts = [der.integer(1), der.seq(der.seq(der.oid(hash_oid)), der.octets(imprint))]
    if nonce is not None:
        parts.append(der.integer(nonce))
    if cert_req:
        parts.append(der.boolean(True))
    return der.seq(*parts)


def _signing_certificate_v2(cert: x509.Certificate) -> bytes:
    issuer_serial = der.seq(der.seq(der.explicit(4, cert.issuer.raw)), der.integer(cert.serial))
    cert_id = der.seq(der.seq(der.oid(x509.SM3)), der.octets(sm3(cert.raw)), issuer_serial)
    return cms.attribute(SIGNING_CERT_V2, der.seq(der.seq(cert_id)))


def issue(
    req: Request,
    certificate: x509.Certificate,
    sign_e: Callable[[bytes], bytes],
    *,
    policy: str,
    tsa_name: bytes,
    profile: str = "gmt0033",
    now: datetime | None = None,
) -> tuple[bytes, int, datetime]:
    """A granted TimeStampResp; returns (DER, serial, genTime). ``sign_e`` signs a 32-byte e."""
    if profile not in PROFILES:
        raise InputError(f"unknown timestamp profile {profile!r}")
    if req.policy is not None and req.policy != policy:
        raise InputError(f"this TSA only issues under policy {policy}")
    moment = now or datetime.now(UTC)
    moment = moment.replace(microsecond=(moment.microsecond // 1000) * 1000)
    serial = secrets.randbits(127) | 1 << 126
    parts = [
        der.integer(1),
        der.oid(policy),
        der.seq(der.seq(der.oid(req.hash_oid)), der.octets(req.imprint)),
        der.integer(serial),
        der.generalized_time(moment),
        der.seq(der.integer(1)),
    ]
    if req.nonce is not None:
        parts.append(der.integer(req.nonce))
    parts.append(der.explicit(0, der.explicit(4, tsa_name)))
    tst_info = der.seq(*parts)
    public = certificate.public_key

    def signer(attrs: bytes, uid: bytes) -> bytes:
        e = sm3(attrs) if profile == "openssl" else public.digest(attrs, uid)
        return sign_e(e)

    token = cms.sign(
        tst_info,
        certificate,
        signer,
        uid=DEFAULT_UID,
        profile="pkcs7",
        content_type=TST_INFO,
        extra_attributes=(_signing_certificate_v2(certificate),),
        signing_time=moment,
    )
    if not req.cert_req:
        token = _without_certificates(token)
    return der.seq(der.seq(der.integer(0)), token), serial, moment


def _without_certificates(token: bytes) -> bytes:
    top = der.parse(token)
    signed = top.child(1).child(0)
    kept = [n.raw for n in signed.children() if n.tag != 0xA0]
    return der.seq(top.child(0).raw, der.explicit(0, der.seq(*kept)))


def rejection(reason: str, fail_bit: int) -> bytes:
    """A rejected TimeStampResp (status 2) with a failInfo bit (RFC 3161 clause 2.4.2)."""
    value = bytes(fail_bit // 8) + bytes([1 << (7 - fail_bit % 8)])
    unused = 7 - fail_bit % 8
    return der.seq(der.seq(der.integer(2), der.seq(der.utf8(reason)), der.bits(value, unused)))


@dataclass(frozen=True)
class VerifiedToken:
    serial: int
    gen_time: datetime
    policy: str
    hash_oid: str
    imprint: bytes
    nonce: int | None
    profile: str
    signer: x509.Certificate


def verify(
    response_or_token: bytes,
    *,
    tsa_certificate: x509.Certificate | None = None,
    data: bytes | None = None,
    imprint: bytes | None = None,
    nonce: int | None = None,
) -> VerifiedToken:
    """Check a TimeStampResp or token: signature, ESS certificate binding, imprint, nonce."""
    node = der.parse(response_or_token, "timestamp")
    first = node.children()[0]
    token = response_or_token
    if first.tag == der.SEQUENCE:  # a TimeStampResp: status first
        status = first.child(0).as_int()
        if status not in (0, 1):
            raise VerificationError(f"the TSA refused the request (status {status})")
        token = node.children()[1].raw
    profile = "gmt0033"
    try:
        checked = cms.verify(
            token, uids=(DEFAULT_UID,), certificates=(tsa_certificate,) if tsa_certificate else ()
        )
    except VerificationError:
        checked = cms.verify(
            token, uids=(), plain_e=True, certificates=(tsa_certificate,) if tsa_certificate else ()
        )
        profile = "openssl"
    if checked.content_type != TST_INFO:
        raise VerificationError("the token's content is not a TSTInfo")
    ess = checked.attributes.get(SIGNING_CERT_V2)
    if ess is None:
        raise VerificationError("the token has no signingCertificateV2 attribute")
    cert_id = der.parse(ess).child(0).child(0).children()
    algorithm = SHA256
    if cert_id[0].tag == der.SEQUENCE:
        algorithm = cert_id[0].child(0).as_oid()
        cert_id = cert_id[1:]
    digest = (
        sm3(checked.signer.raw)
        if algorithm == x509.SM3
        else hashlib.sha256(checked.signer.raw).digest()
    )
    if cert_id[0].value != digest:
        raise VerificationError("signingCertificateV2 does not name the signer's certificate")
    if x509.EKU["timeStamping"] not in checked.signer.eku():
        raise VerificationError("the signer's certificate is not for time stamping")
    fields = der.parse(checked.content).children()
    message = fields[2].children()
    hash_oid = message[0].child(0).as_oid()
    found = message[1].value
    token_nonce = next((f.as_int() for f in fields[6:] if f.tag == der.INTEGER), None)
    if data is not None:
        expected = sm3(data) if hash_oid == x509.SM3 else hashlib.sha256(data).digest()
        if found != expected:
            raise VerificationError("the token is for other data")
    if imprint is not None and found != imprint:
        raise VerificationError("the token is for another message imprint")
    if nonce is not None and token_nonce != nonce:
        raise VerificationError("the token's nonce does not match the request")
    return VerifiedToken(
        fields[3].as_int(),
        fields[4].as_time(),
        fields[1].as_oid(),
        hash_oid,
        found,
        token_nonce,
        profile,
        checked.signer,
    )
