"""Data protection, signatures and batches (``/v1/keys/{tenant}/{ring}/{key}/<operation>``).

Each operation is a handler ``(service, path, body) -> (response, audit fields)``; the single
routes and ``/v1/batch`` run the same handlers through the gate, so a batch item is
authorised, counted against the quota and audited exactly like a single request. A batch
collects per-item errors (``{"ok": false, "error": {...}}``) instead of failing whole.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from crypto.service import dataapi
from crypto.service.app import Service, context
from crypto.service.errors import ServiceError
from crypto.service.gate import Context
from crypto.service.schemas import (
    BatchRequest,
    DataKeyRequest,
    DecryptRequest,
    EncryptRequest,
    ErrorResponse,
    MacRequest,
    MacVerifyRequest,
    SignRequest,
    VerifyRequest,
    b64,
    item_params,
    unb64,
)
from crypto.service.vault import KeyPath
from tulou.errors import VerificationError

Ctx = Annotated[Context, Depends(context)]
router = APIRouter(
    prefix="/v1", responses={400: {"model": ErrorResponse}, 403: {"model": ErrorResponse}}
)
KEY = "/keys/{tenant}/{ring}/{name}"
Result = tuple[dict[str, Any], dict[str, Any]]


def _ids(material: Any) -> dict[str, Any]:
    return {"tulou.key.id": material.key_id, "tulou.key.version": material.version}


def _encrypt(service: Service, path: KeyPath, body: EncryptRequest) -> Result:
    material = service.vault.material(path, "encrypt")
    blob = dataapi.encrypt(material, unb64(body.plaintext, "plaintext"), body.context)
    return {"ciphertext": b64(blob), "key_id": material.key_id, "version": material.version}, _ids(
        material
    )


def _opened(
    service: Service, path: KeyPath, ciphertext: str, context: dict[str, str], operation: str
) -> tuple[bytes, Any]:
    parsed = dataapi.parse_ciphertext(unb64(ciphertext, "ciphertext"))
    if parsed.path != path:
        raise ServiceError("wrong-tenant", f"the ciphertext belongs to {parsed.path}, not {path}")
    material = service.vault.material(
        path, operation if operation == "decrypt" else "decrypt", parsed.version
    )
    return dataapi.decrypt(material, parsed, context), material


def _decrypt(service: Service, path: KeyPath, body: DecryptRequest) -> Result:
    if service.vault.key_type(path) == "sm2":  # GM/T 0009 ciphertext, e.g. an envelope key
        material = service.vault.material(path, "decrypt", body.version)
        assert material.private is not None
        try:
            plaintext = material.private.decrypt(unb64(body.ciphertext, "ciphertext"))
        except VerificationError:
            raise ServiceError(
                "decrypt-failed", "SM2 decryption failed: wrong key or tampered"
            ) from None
        out = {"plaintext": b64(plaintext), "key_id": material.key_id, "version": material.version}
        return out, _ids(material)
    plaintext, material = _opened(service, path, body.ciphertext, body.context, "decrypt")
    return {
        "plaintext": b64(plaintext),
        "key_id": material.key_id,
        "version": material.version,
    }, _ids(material)


def _rewrap(service: Service, path: KeyPath, body: DecryptRequest) -> Result:
    plaintext, old = _opened(service, path, body.ciphertext, body.context, "rewrap")
    new = service.vault.material(path, "rewrap")
    blob = dataapi.encrypt(new, plaintext, body.context)
    return (
        {
            "ciphertext": b64(blob),
            "key_id": new.key_id,
            "version": new.version,
            "from_version": old.version,
        },
        {**_ids(new), "tulou.key.from_version": old.version},
    )


def _data_key(service: Service, path: KeyPath, body: DataKeyRequest) -> Result:
    material = service.vault.material(path, "generate-data-key")
    key = dataapi.new_data_key()
    out: dict[str, Any] = {
        "ciphertext": b64(dataapi.encrypt(material, key, body.context)),
        "key_id": material.key_id,
        "version": material.version,
    }
    if body.include_plaintext:
        out["plaintext"] = b64(key)
    return out, _ids(material)


def _mac(service: Service, path: KeyPath, body: MacRequest) -> Result:
    material = service.vault.material(path, "mac")
    return (
        {
            "mac": b64(dataapi.mac(material, unb64(body.data, "data"))),
            "key_id": material.key_id,
            "version": material.version,
        },
        _ids(material),
    )


def _mac_verify(service: Service, path: KeyPath, body: MacVerifyRequest) -> Result:
    blob = unb64(body.mac, "mac")
    material = service.vault.material(path, "mac-verify", dataapi.mac_version(blob))
    dataapi.mac_verify(material, unb64(body.data, "data"), blob)
    return {"valid": True, "key_id": material.key_id, "version": material.version}, _ids(material)


def _payload(body: SignRequest) -> tuple[bytes | None, bytes | None]:
    data = None if body.data is None else unb64(body.data, "data")
    digest = None if body.digest is None else unb64(body.digest, "digest")
    return data, digest


def _sign(service: Service, path: KeyPath, body: SignRequest) -> Result:
    material = service.vault.material(path, "sign")
    data, digest = _payload(body)
    signature = dataapi.sign(
        material, data=data, digest=digest, uid=body.uid.encode(), raw=body.form == "raw"
    )
    extra = {"tulou.sign.mode": "digest" if digest is not None else "data"}
    return (
        {"signature": b64(signature), "key_id": material.key_id, "version": material.version},
        {**_ids(material), **extra},
    )


def _verify(service: Service, path: KeyPath, body: VerifyRequest) -> Result:
    material = service.vault.material(path, "verify", body.version)
    assert material.private is not None
    data, digest = _payload(body)
    dataapi.verify(
        material.private.public_key(),
        unb64(body.signature, "signature"),
        data=data,
        digest=digest,
        uid=body.uid.encode(),
        raw=body.form == "raw",
    )
    return {"valid": True, "key_id": material.key_id, "version": material.version}, _ids(material)


HANDLERS: dict[str, tuple[type[BaseModel], Callable[..., Result]]] = {
    "encrypt": (EncryptRequest, _encrypt),
    "decrypt": (DecryptRequest, _decrypt),
    "rewrap": (DecryptRequest, _rewrap),
    "generate-data-key": (DataKeyRequest, _data_key),
    "mac": (MacRequest, _mac),
    "mac-verify": (MacVerifyRequest, _mac_verify),
    "sign": (SignRequest, _sign),
    "verify": (VerifyRequest, _verify),
}


def _run(
    request: Request, ctx: Context, operation: str, path: KeyPath, body: BaseModel
) -> dict[str, Any]:
    service: Service = request.app.state.service
    handler = HANDLERS[operation][1]
    return service.gate.run(
        ctx,
        operation,
        path.tenant,
        f"{path.ring}/{path.name}",
        lambda: handler(service, path, body),
    )


@router.post(KEY + "/encrypt", name="encrypt")
def encrypt(
    *, tenant: str, ring: str, name: str, body: EncryptRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """SM4-GCM encrypt; the encryption context is bound as associated data."""
    return _run(request, ctx, "encrypt", KeyPath.of(tenant, ring, name), body)


@router.post(KEY + "/decrypt", name="decrypt")
def decrypt(
    *, tenant: str, ring: str, name: str, body: DecryptRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _run(request, ctx, "decrypt", KeyPath.of(tenant, ring, name), body)


@router.post(KEY + "/rewrap", name="rewrap")
def rewrap(
    *, tenant: str, ring: str, name: str, body: DecryptRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """Decrypt and re-encrypt under the primary version (the plaintext never leaves)."""
    return _run(request, ctx, "rewrap", KeyPath.of(tenant, ring, name), body)


@router.post(KEY + "/generate-data-key", name="generate-data-key")
def generate_data_key(
    *, tenant: str, ring: str, name: str, body: DataKeyRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """A fresh 16-byte SM4 data key: plaintext (for the caller's envelope) + wrapped."""
    return _run(request, ctx, "generate-data-key", KeyPath.of(tenant, ring, name), body)


@router.post(KEY + "/mac", name="mac")
def mac(
    *, tenant: str, ring: str, name: str, body: MacRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _run(request, ctx, "mac", KeyPath.of(tenant, ring, name), body)


@router.post(KEY + "/mac-verify", name="mac-verify")
def mac_verify(
    *, tenant: str, ring: str, name: str, body: MacVerifyRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _run(request, ctx, "mac-verify", KeyPath.of(tenant, ring, name), body)


@router.post(KEY + "/sign", name="sign")
def sign(
    *, tenant: str, ring: str, name: str, body: SignRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """SM2 signature of data (Z over ``uid``, GB/T 32918.2) or of a digest e."""
    return _run(request, ctx, "sign", KeyPath.of(tenant, ring, name), body)


@router.post(KEY + "/verify", name="verify")
def verify(
    *, tenant: str, ring: str, name: str, body: VerifyRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _run(request, ctx, "verify", KeyPath.of(tenant, ring, name), body)


def _key_path(text: str) -> KeyPath:
    parts = text.split("/")
    if len(parts) != 3:
        raise ServiceError("bad-request", f"key must be tenant/ring/key, got {text[:80]!r}")
    return KeyPath.of(*parts)


@router.post("/batch", name="batch")
def batch(*, body: BatchRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Many operations in one request; each item is authorised, counted and audited alone."""
    service: Service = request.app.state.service
    if len(body.items) > service.config.batch_limit:
        error = ServiceError("bad-request", f"at most {service.config.batch_limit} items per batch")
        service.gate.refuse("batch", error, caller=ctx.caller.principal, fields=ctx.fields())
        raise error
    results: list[dict[str, Any]] = []
    for index, item in enumerate(body.items):
        where = {"tulou.batch.index": index, "tulou.batch.size": len(body.items)}
        try:
            path = _key_path(item.key)
            model, handler = HANDLERS[item.operation]
            params = model.model_validate(item_params(item))
        except (ServiceError, ValidationError) as exc:
            error = (
                exc
                if isinstance(exc, ServiceError)
                else ServiceError("bad-request", f"item {index}: {exc.errors()[0].get('msg')}")
            )
            fields = {**ctx.fields(), **where, "tulou.key.path": item.key[:200]}
            service.gate.refuse(item.operation, error, caller=ctx.caller.principal, fields=fields)
            results.append({"ok": False, "error": {"code": error.code, "message": error.message}})
            continue
        try:
            out = service.gate.run(
                ctx,
                item.operation,
                path.tenant,
                f"{path.ring}/{path.name}",
                functools.partial(handler, service, path, params),
                fields=where,
            )
            results.append({"ok": True, **out})
        except ServiceError as exc:  # already audited by the gate
            results.append({"ok": False, "error": {"code": exc.code, "message": exc.message}})
    return {"results": results}


_MAX_RECORD = 1 << 20


def _frames(body: bytes) -> list[bytes]:
    """``u32 length || bytes`` records (the bulk format); refuses a torn or oversized frame."""
    out, pos = [], 0
    while pos < len(body):
        if pos + 4 > len(body):
            raise ServiceError("bad-request", "bulk body: truncated length")
        size = int.from_bytes(body[pos : pos + 4], "big")
        if size > _MAX_RECORD or pos + 4 + size > len(body):
            raise ServiceError("bad-request", "bulk body: record too long or truncated")
        out.append(body[pos + 4 : pos + 4 + size])
        pos += 4 + size
    if not out:
        raise ServiceError("bad-request", "bulk body: no records")
    return out


def _count(body: bytes) -> int:
    count, pos = 0, 0
    while pos + 4 <= len(body):
        pos += 4 + int.from_bytes(body[pos : pos + 4], "big")
        count += 1
    return max(1, count)


def _framed(records: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(4, "big") + r for r in records)


def _bulk_context(request: Request) -> dict[str, str]:
    raw = request.headers.get("x-tulou-encryption-context", "{}")
    try:
        context = json.loads(raw)
    except ValueError:
        raise ServiceError("bad-request", "X-Tulou-Encryption-Context is not JSON") from None
    if not isinstance(context, dict) or not all(isinstance(v, str) for v in context.values()):
        raise ServiceError("bad-request", "the encryption context is an object of strings")
    return context


async def _bulk(request: Request, ctx: Context, operation: str, path: KeyPath) -> Response:
    service: Service = request.app.state.service
    body = await request.body()

    def work() -> tuple[bytes, dict[str, Any]]:
        records = _frames(body)
        context = _bulk_context(request)
        if operation == "encrypt":
            material = service.vault.material(path, "encrypt")
            out = dataapi.encrypt_many(material, records, context)
            return _framed(out), {**_ids(material), "tulou.batch.size": len(records)}
        parsed = [dataapi.parse_ciphertext(r) for r in records]
        if any(p.path != path for p in parsed):
            raise ServiceError("wrong-tenant", "a ciphertext of the bulk belongs to another key")
        versions = {p.version for p in parsed}
        materials = {v: service.vault.material(path, "decrypt", v) for v in versions}
        out = [dataapi.decrypt(materials[p.version], p, context) for p in parsed]
        return _framed(out), {
            "tulou.key.versions": sorted(versions),
            "tulou.batch.size": len(records),
        }

    count = _count(body)  # quota: one token per record
    result = await run_in_threadpool(
        service.gate.run, ctx, operation, path.tenant, f"{path.ring}/{path.name}", work, cost=count
    )
    return Response(result, media_type="application/octet-stream")


@router.post(KEY + "/encrypt-bulk", name="encrypt-bulk")
async def encrypt_bulk(tenant: str, ring: str, name: str, request: Request, ctx: Ctx) -> Response:
    """Many records under one context: body and answer ``u32 len || record`` frames.

    The fast path for bulk data (no JSON, no base64): one policy decision, quota cost = the
    record count, one audit line naming the count.
    """
    return await _bulk(request, ctx, "encrypt", KeyPath.of(tenant, ring, name))


@router.post(KEY + "/decrypt-bulk", name="decrypt-bulk")
async def decrypt_bulk(tenant: str, ring: str, name: str, request: Request, ctx: Ctx) -> Response:
    """The inverse of ``encrypt-bulk``; any tampered record fails the whole request."""
    return await _bulk(request, ctx, "decrypt", KeyPath.of(tenant, ring, name))
