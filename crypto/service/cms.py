"""SignedData with SM2/SM3: GM/T 0010 (and its PKCS#7 / RFC 5652 twin) — build and verify.

Structure (RFC 5652 clause 5; GM/T 0010-2012 clause 7 uses the same ASN.1)::

    ContentInfo { contentType signedData, [0] SignedData {
        version 1, digestAlgorithms { sm3 }, encapContentInfo { data, [0] content? },
        [0] certificates { signer certificate }, signerInfos { SignerInfo {
            version 1, sid IssuerAndSerialNumber, digestAlgorithm sm3,
            [0] signedAttrs { contentType, signingTime, messageDigest = SM3(content) },
            signatureAlgorithm, signature = SM2(Z(ID) || DER(signedAttrs as SET)) } } } }

``profile`` chooses the object identifiers: ``gmt0010`` uses GM/T 0010's content types
(``1.2.156.10197.6.1.4.2.1`` data, ``.2`` signedData) and signature algorithm ``sm2-1``
(``1.2.156.10197.1.301.1``); ``pkcs7`` uses RFC 5652's (``1.2.840.113549.1.7.1/.2``) with
SM2-with-SM3 (``1.2.156.10197.1.501``), which is what ``openssl cms`` understands. The SM2 ID
in Z defaults to ``1234567812345678`` (GM/T 0010 / GB/T 35276); OpenSSL 3.0's CMS verifies
with an empty ID, so interoperable messages for ``openssl cms -verify`` are made with
``uid=""`` (docs/crypto.md, "OpenSSL interoperability").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from crypto.service import der, x509
from crypto.sm3 import sm3
from tulou.errors import InputError, VerificationError

OID_DATA: Final = {"pkcs7": "1.2.840.113549.1.7.1", "gmt0010": "1.2.156.10197.6.1.4.2.1"}
OID_SIGNED: Final = {"pkcs7": "1.2.840.113549.1.7.2", "gmt0010": "1.2.156.10197.6.1.4.2.2"}
SIG_ALG: Final = {"pkcs7": x509.SM2_SM3, "gmt0010": "1.2.156.10197.1.301.1"}
ATTR_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
ATTR_DIGEST: Final = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME: Final = "1.2.840.113549.1.9.5"
_PROFILE_OF: Final = {v: k for k, v in OID_SIGNED.items()}

#: Signs e-input: (signed attributes DER, uid) -> DER SM2 signature.
AttrSigner = Callable[[bytes, bytes], bytes]


def attribute(attr_oid: str, value: bytes) -> bytes:
    return der.seq(der.oid(attr_oid), der.set_of(value))


def sign(
    content: bytes,
    certificate: x509.Certificate,
    signer: AttrSigner,
    *,
    uid: bytes,
    profile: str = "gmt0010",
    detached: bool = False,
    extra_attributes: tuple[bytes, ...] = (),
    content_type: str | None = None,
    signing_time: datetime | None = None,
) -> bytes:
    """A DER ContentInfo(SignedData) over ``content``, signed by ``signer``."""
    if profile not in OID_SIGNED:
        raise ValueError(f"unknown CMS profile {profile}")
    econtent_type = content_type or OID_DATA[profile]
    moment = (signing_time or datetime.now(UTC)).replace(microsecond=0)
    attrs = der.set_of(
        attribute(ATTR_CONTENT_TYPE, der.oid(econtent_type)),
        attribute(ATTR_SIGNING_TIME, der.time_value(moment)),
        attribute(ATTR_DIGEST, der.octets(sm3(content))),
        *extra_attributes,
    )
    signature = signer(attrs, uid)
    signer_info = der.seq(
        der.integer(1),
        der.seq(certificate.issuer.raw, der.integer(certificate.serial)),
        der.seq(der.oid(x509.SM3)),
        der.implicit(0, attrs[_header_len(attrs) :]),
        der.seq(der.oid(SIG_ALG[profile])),
        der.octets(signature),
    )
    encap = [der.oid(econtent_type)]
    if not detached:
        encap.append(der.explicit(0, der.octets(content)))
    signed_data = der.seq(
        der.integer(1),
        der.set_of(der.seq(der.oid(x509.SM3))),
        der.seq(*encap),
        der.implicit(0, certificate.raw),
        der.set_of(signer_info),
    )
    return der.seq(der.oid(OID_SIGNED[profile]), der.explicit(0, signed_data))


def _header_len(encoded: bytes) -> int:
    return 2 if encoded[1] < 0x80 else 2 + (encoded[1] & 0x7F)


@dataclass(frozen=True)
class Verified:
    content: bytes
    content_type: str
    profile: str
    signer: x509.Certificate
    signing_time: datetime | None
    attributes: dict[str, bytes]


def verify(
    data: bytes,
    *,
    content: bytes | None = None,
    uids: tuple[bytes, ...],
    plain_e: bool = False,
    certificates: tuple[x509.Certificate, ...] = (),
) -> Verified:
    """Check structure, message digest and the SM2 signature (with one of ``uids``).

    ``plain_e`` also accepts a signature of ``SM3(signedAttrs)`` without Z (what OpenSSL 3.0's
    PKCS#7 code makes and checks; timestamps in the ``openssl`` profile). ``certificates``
    are candidates for the signer when the message carries none.

    The signer certificate is taken from the message; whether it is trustworthy (chain,
    validity, revocation) is the caller's next step (the CA's ``validate``).
    """
    try:
        top = der.parse(data, "CMS")
        content_oid = top.child(0, der.OID).as_oid()
        if content_oid not in _PROFILE_OF:
            raise InputError(f"not a SignedData (content type {content_oid})")
        profile = _PROFILE_OF[content_oid]
        signed = top.child(1).child(0, der.SEQUENCE)
        fields = signed.children()
        encap = fields[2].children()
        econtent_type = encap[0].as_oid()
        embedded = encap[1].child(0, der.OCTET_STRING).value if len(encap) > 1 else None
        certs = [
            x509.parse_certificate(c.raw) for n in fields[3:] if n.tag == 0xA0 for c in n.children()
        ]
        signer_infos = fields[-1].children()
        if len(signer_infos) != 1:
            raise InputError("exactly one signer is supported")
        si = signer_infos[0].children()
        sid = si[1].children()
        serial = sid[1].as_int()
        if si[2].child(0).as_oid() != x509.SM3:
            raise InputError("the digest algorithm is not SM3")
        attrs_node = si[3]
        if attrs_node.tag != 0xA0:
            raise InputError("signed attributes are required")
        sig_alg = si[4].child(0).as_oid()
        if sig_alg not in (x509.SM2_SM3, "1.2.156.10197.1.301.1"):
            raise InputError(f"unknown signature algorithm {sig_alg}")
        signature = si[5].value
    except (IndexError, ValueError) as exc:
        raise InputError(f"not a CMS SignedData ({type(exc).__name__})") from None
    if (embedded is None) == (content is None):
        raise InputError("give the content exactly when the message is detached")
    body = embedded if embedded is not None else content
    assert body is not None
    candidates = [*certs, *certificates]
    signer = next(
        (c for c in candidates if c.serial == serial and c.issuer.raw == sid[0].raw), None
    )
    if signer is None:
        raise InputError("the signer's certificate is not in the message")
    attrs_der = der.tlv(der.SET, attrs_node.value)  # the signature covers the SET OF form
    attributes: dict[str, bytes] = {}
    for attr in der.parse(attrs_der).children():
        attr_oid = attr.child(0, der.OID).as_oid()
        if attr_oid in attributes:
            raise InputError(f"duplicate attribute {attr_oid}")
        values = attr.child(1, der.SET).children()
        if len(values) != 1:
            raise InputError("an attribute must have exactly one value")
        attributes[attr_oid] = values[0].raw
    digest = attributes.get(ATTR_DIGEST)
    if digest is None or der.parse(digest).value != sm3(body):
        raise VerificationError("the message digest does not match the content")
    declared = attributes.get(ATTR_CONTENT_TYPE)
    if declared is None or der.parse(declared).as_oid() != econtent_type:
        raise VerificationError("the content-type attribute does not match")
    digests = [signer.public_key.digest(attrs_der, uid) for uid in uids]
    if plain_e:
        digests.append(sm3(attrs_der))
    for e in digests:
        try:
            signer.public_key.verify_hashed(signature, e)
            break
        except VerificationError:
            continue
    else:
        raise VerificationError("the SM2 signature of the signed attributes does not verify")
    moment = attributes.get(ATTR_SIGNING_TIME)
    return Verified(
        content=body,
        content_type=econtent_type,
        profile=profile,
        signer=signer,
        signing_time=der.parse(moment).as_time() if moment else None,
        attributes=attributes,
    )
