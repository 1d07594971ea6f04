"""The city CA, CMS signatures and the TSA as HTTP routes of the service (GM/T 0029 style).

Policy targets: certificate operations are ``tenant=city``, ``key=pki/ca``; timestamps
``pki/tsa``; CMS verification ``pki/cms``; CMS signing and key certificates use the signing
key's own tenant and ``ring/key``. The CA certificate and the CRL are published without
authentication (``GET /v1/pki/ca``, ``GET /v1/pki/crl``), like any CA's distribution point.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from crypto.service import cms, der, tsa, x509
from crypto.service.app import Service, context
from crypto.service.ca import CA_KEY, CityCA, ensure_key
from crypto.service.errors import ServiceError
from crypto.service.gate import Context
from crypto.service.schemas import Body, ErrorResponse, b64, unb64
from crypto.service.vault import KeyPath
from crypto.sm2 import DEFAULT_UID
from tulou.errors import InputError, VerificationError

TSA_KEY = KeyPath("city", "pki", "tsa")
Ctx = Annotated[Context, Depends(context)]
router = APIRouter(
    prefix="/v1", responses={400: {"model": ErrorResponse}, 403: {"model": ErrorResponse}}
)


class IssueRequest(Body):
    csr: str = Field(description="PEM PKCS#10 request, SM2 key, SM2-with-SM3 signature")
    profile: Literal["client", "server", "signing", "encryption", "tsa"] = "signing"
    dns: list[str] = Field(default_factory=list, max_length=20)
    days: int | None = Field(default=None, ge=1, le=3650)


class KeyCertRequest(Body):
    common_name: str = Field(min_length=1, max_length=64)
    organization: str | None = Field(default=None, max_length=64)
    profile: Literal["signing", "client", "server"] = "signing"


class RevokeRequest(Body):
    reason: str = "unspecified"


class ValidateRequest(Body):
    certificate: str = Field(description="PEM certificate")
    at: datetime | None = Field(default=None, description="validate at this moment (default now)")


class CmsSignRequest(Body):
    data: str = Field(description="base64 content")
    profile: Literal["gmt0010", "pkcs7"] = "gmt0010"
    detached: bool = False
    uid: str = Field(default="1234567812345678", max_length=1024)


class CmsVerifyRequest(Body):
    message: str = Field(description="base64 DER SignedData")
    content: str | None = Field(default=None, description="base64 content of a detached message")


class TimestampVerifyRequest(Body):
    token: str = Field(description="base64 TimeStampResp or token")
    data: str | None = None
    nonce: int | None = None


def _svc(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _ca(service: Service) -> CityCA:
    ca: CityCA = service.extras["ca"]
    return ca


def tsa_certificate(service: Service) -> x509.Certificate:
    """The TSA's certificate for the current TSA key version (issued on demand)."""
    ca = _ca(service)
    version, public = service.vault.public_key(TSA_KEY)
    rel = f"pki/tsa-v{version}.json"
    record = service.records.load(rel)
    if record is None:
        subject = der.name([("C", "CN"), ("O", "Tulou"), ("CN", service.config.tsa_name)])
        issued = ca.issue_for_key(subject, public, profile="tsa", by="service")
        record = service.records.commit(rel, {"serial": issued.record["serial"]})
    return x509.parse_certificate(base64.b64decode(ca.record(record["serial"])["certificate"]))


def attach(service: Service) -> None:
    config = service.config
    service.extras["ca"] = CityCA(
        service.vault,
        service.records,
        name=config.ca_name,
        validity_days=config.ca_validity_days,
        cert_days=config.cert_validity_days,
        crl_hours=config.crl_validity_hours,
    )
    ensure_key(service.vault, TSA_KEY)
    tsa_certificate(service)
    service.extras.setdefault("routers", []).append(router)


def _pem_or_der(text: str, label: str) -> bytes:
    if "-----BEGIN" in text:
        return x509.unpem(text, label)
    return unb64(text, label.lower())


@router.get("/pki/ca", name="ca-certificate")
def ca_certificate(request: Request) -> Response:
    return Response(_ca(_svc(request)).certificate.pem(), media_type="application/x-pem-file")


@router.get("/pki/crl", name="crl")
def crl(request: Request, format: Literal["der", "pem"] = "der") -> Response:
    service = _svc(request)
    current = _ca(service).crl()
    if format == "pem":
        return Response(x509.pem("X509 CRL", current.raw), media_type="application/x-pem-file")
    return Response(current.raw, media_type="application/pkix-crl")


@router.get("/pki/tsa", name="tsa-certificate")
def tsa_cert(request: Request) -> Response:
    return Response(tsa_certificate(_svc(request)).pem(), media_type="application/x-pem-file")


@router.post("/pki/certificates", name="cert-issue", status_code=201)
def issue(*, body: IssueRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Issue an SM2 certificate from a CSR (the CSR's signature must verify)."""
    service = _svc(request)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            csr = x509.unpem(body.csr, "CERTIFICATE REQUEST")
        except InputError as exc:
            raise ServiceError("csr-invalid", exc.message) from None
        issued = _ca(service).issue(
            csr, profile=body.profile, by=ctx.caller.principal, dns=tuple(body.dns), days=body.days
        )
        cert = issued.certificate
        return (
            {
                "serial": issued.record["serial"],
                "certificate": cert.pem(),
                "subject": cert.subject_text,
                "not_after": cert.not_after.isoformat(),
            },
            {"tulou.cert.serial": issued.record["serial"], "tulou.cert.subject": cert.subject_text},
        )

    return service.gate.run(ctx, "cert-issue", CA_KEY.tenant, "pki/ca", work)


@router.post("/keys/{tenant}/{ring}/{name}/certificate", name="key-certificate", status_code=201)
def key_certificate(
    *, tenant: str, ring: str, name: str, body: KeyCertRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """A city-CA certificate for an SM2 key held by the service (its key never leaves)."""
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        version, public = service.vault.public_key(path)
        pairs = (
            [("C", "CN")]
            + ([("O", body.organization)] if body.organization else [])
            + [("CN", body.common_name)]
        )
        issued = _ca(service).issue_for_key(
            der.name(pairs), public, profile=body.profile, by=ctx.caller.principal
        )
        service.records.commit(
            f"pki/keycerts/{tenant}/{ring}/{name}-v{version}.json",
            {"serial": issued.record["serial"]},
        )
        return (
            {
                "serial": issued.record["serial"],
                "certificate": issued.certificate.pem(),
                "version": version,
            },
            {"tulou.cert.serial": issued.record["serial"], "tulou.key.id": f"{path}@v{version}"},
        )

    return service.gate.run(ctx, "cert-issue", tenant, f"{ring}/{name}", work)


@router.get("/pki/certificates/{serial}", name="cert-read")
def read_certificate(serial: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        record = dict(_ca(service).record(serial))
        record["certificate"] = x509.pem("CERTIFICATE", base64.b64decode(record["certificate"]))
        return record, {"tulou.cert.serial": record["serial"]}

    return service.gate.run(ctx, "cert-read", CA_KEY.tenant, "pki/ca", work)


@router.post("/pki/certificates/{serial}/revoke", name="cert-revoke")
def revoke(serial: str, body: RevokeRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        record = _ca(service).revoke(serial, body.reason, by=ctx.caller.principal)
        return (
            {
                "serial": record["serial"],
                "status": record["status"],
                "revoked_at": record["revoked_at"],
            },
            {"tulou.cert.serial": record["serial"], "event.reason": body.reason},
        )

    return service.gate.run(ctx, "cert-revoke", CA_KEY.tenant, "pki/ca", work)


@router.post("/pki/validate", name="cert-validate")
def validate(body: ValidateRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Chain to the city CA, validity period, revocation."""
    service = _svc(request)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            raw = x509.unpem(body.certificate, "CERTIFICATE")
        except InputError as exc:
            raise ServiceError("certificate-invalid", exc.message) from None
        at = body.at if body.at is None or body.at.tzinfo else body.at.replace(tzinfo=UTC)
        result = _ca(service).validate(raw, at=at)
        return result, {"tulou.cert.serial": result["serial"]}

    return service.gate.run(ctx, "cert-validate", CA_KEY.tenant, "pki/ca", work)


def _key_cert(service: Service, path: KeyPath, version: int) -> x509.Certificate:
    record = service.records.load(
        f"pki/keycerts/{path.tenant}/{path.ring}/{path.name}-v{version}.json"
    )
    if record is None:
        raise ServiceError(
            "not-found", f"{path}@v{version} has no certificate: POST .../certificate first"
        )
    return x509.parse_certificate(
        base64.b64decode(_ca(service).record(record["serial"])["certificate"])
    )


@router.post("/keys/{tenant}/{ring}/{name}/cms-sign", name="cms-sign")
def cms_sign(
    *, tenant: str, ring: str, name: str, body: CmsSignRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """A SignedData (GM/T 0010 or PKCS#7 OIDs) by a service-held key with its certificate."""
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        material = service.vault.material(path, "sign")
        assert material.private is not None
        private = material.private
        cert = _key_cert(service, path, material.version)
        message = cms.sign(
            unb64(body.data, "data"),
            cert,
            lambda attrs, uid: private.sign(attrs, uid=uid),
            uid=body.uid.encode(),
            profile=body.profile,
            detached=body.detached,
        )
        return (
            {
                "message": b64(message),
                "key_id": material.key_id,
                "signer_serial": f"{cert.serial:x}",
            },
            {
                "tulou.key.id": material.key_id,
                "tulou.key.version": material.version,
                "tulou.cert.serial": f"{cert.serial:x}",
            },
        )

    return service.gate.run(ctx, "cms-sign", tenant, f"{ring}/{name}", work)


@router.post("/cms/verify", name="cms-verify")
def cms_verify(body: CmsVerifyRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Verify a SignedData and validate its signer's certificate against the city CA."""
    service = _svc(request)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        content = None if body.content is None else unb64(body.content, "content")
        try:
            checked = cms.verify(
                unb64(body.message, "message"), content=content, uids=(DEFAULT_UID, b"")
            )
        except InputError as exc:
            raise ServiceError("bad-request", exc.message) from None
        except VerificationError as exc:
            raise ServiceError("signature-invalid", exc.message) from None
        signer = _ca(service).validate(checked.signer.raw)
        out = {
            "valid": True,
            "signer": signer,
            "profile": checked.profile,
            "signing_time": checked.signing_time.isoformat() if checked.signing_time else None,
        }
        if body.content is None:
            out["content"] = b64(checked.content)
        return out, {"tulou.cert.serial": signer["serial"], "tulou.cert.subject": signer["subject"]}

    return service.gate.run(ctx, "cms-verify", CA_KEY.tenant, "pki/cms", work)


@router.post("/timestamp", name="timestamp")
async def timestamp(
    request: Request, ctx: Ctx, profile: Literal["gmt0033", "openssl"] = "gmt0033"
) -> Response:
    """RFC 3161 over HTTP: ``application/timestamp-query`` in, ``-reply`` out."""
    service = _svc(request)
    body = await request.body()

    def work() -> tuple[bytes, dict[str, Any]]:
        try:
            parsed = tsa.parse_request(body)
        except InputError as exc:
            raise ServiceError("bad-request", exc.message) from None
        cert = tsa_certificate(service)
        material = service.vault.material(TSA_KEY, "sign")
        assert material.private is not None
        reply, serial, _moment = tsa.issue(
            parsed,
            cert,
            material.private.sign_hashed,
            policy=service.config.tsa_policy,
            tsa_name=cert.subject.raw,
            profile=profile,
            now=datetime.now(UTC),
        )
        return reply, {
            "tulou.tsa.serial": f"{serial:x}",
            "tulou.tsa.imprint": parsed.imprint.hex(),
            "tulou.tsa.profile": profile,
            "tulou.key.id": material.key_id,
        }

    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    reply = await run_in_threadpool(
        service.gate.run, ctx, "timestamp", CA_KEY.tenant, "pki/tsa", work
    )
    return Response(reply, media_type="application/timestamp-reply")


@router.post("/timestamp/verify", name="timestamp-verify")
def timestamp_verify(body: TimestampVerifyRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        data = None if body.data is None else unb64(body.data, "data")
        try:
            token = tsa.verify(unb64(body.token, "token"), data=data, nonce=body.nonce)
        except InputError as exc:
            raise ServiceError("bad-request", exc.message) from None
        except VerificationError as exc:
            raise ServiceError("signature-invalid", exc.message) from None
        signer = _ca(service).validate(token.signer.raw)
        return (
            {
                "valid": True,
                "serial": f"{token.serial:x}",
                "gen_time": token.gen_time.isoformat(),
                "profile": token.profile,
                "policy": token.policy,
                "tsa": signer["subject"],
            },
            {"tulou.tsa.serial": f"{token.serial:x}"},
        )

    return service.gate.run(ctx, "timestamp-verify", CA_KEY.tenant, "pki/tsa", work)
