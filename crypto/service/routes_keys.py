"""Tenants, key rings, keys and their lifecycle (``/v1/tenants``, ``/v1/keys``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from crypto.service.app import Service, context
from crypto.service.errors import ServiceError
from crypto.service.gate import Context
from crypto.service.schemas import (
    ErrorResponse,
    ExportRequest,
    KeyCreate,
    KeyImport,
    KeyUpdate,
    RingCreate,
    TenantCreate,
    b64,
    unb64,
)
from crypto.service.vault import KeyPath, public_view
from crypto.sm2 import SM2PublicKey
from tulou.errors import TulouError

Ctx = Annotated[Context, Depends(context)]
router = APIRouter(
    prefix="/v1", responses={400: {"model": ErrorResponse}, 403: {"model": ErrorResponse}}
)
KEY = "/keys/{tenant}/{ring}/{name}"


def _svc(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _key_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "tulou.key.id": f"{public_view(record)['path']}@v{record['primary']}",
        "tulou.key.version": record["primary"],
        "tulou.key.type": record["type"],
    }


@router.post("/tenants", name="tenant-create", status_code=201)
def create_tenant(*, body: TenantCreate, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)
    return service.gate.run(
        ctx,
        "tenant-create",
        body.tenant,
        None,
        lambda: (service.vault.create_tenant(body.tenant, by=ctx.caller.principal), {}),
    )


@router.post("/tenants/{tenant}/rings", name="ring-create", status_code=201)
def create_ring(*, tenant: str, body: RingCreate, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)
    return service.gate.run(
        ctx,
        "ring-create",
        tenant,
        f"{body.ring}/*",
        lambda: (service.vault.create_ring(tenant, body.ring, by=ctx.caller.principal), {}),
    )


@router.get("/tenants/{tenant}/rings/{ring}/keys", name="key-list")
def list_keys(*, tenant: str, ring: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)
    return service.gate.run(
        ctx,
        "key-read",
        tenant,
        f"{ring}/*",
        lambda: ({"keys": service.vault.keys(tenant, ring)}, {}),
    )


@router.post("/tenants/{tenant}/rings/{ring}/keys", name="key-create", status_code=201)
def create_key(
    *, tenant: str, ring: str, body: KeyCreate, request: Request, ctx: Ctx
) -> dict[str, Any]:
    service = _svc(request)
    path = KeyPath.of(tenant, ring, body.name)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        record = service.vault.create_key(
            path,
            body.type,
            by=ctx.caller.principal,
            exportable=body.exportable,
            rotation_period=body.rotation_period,
            labels=body.labels,
        )
        return public_view(record), _key_fields(record)

    return service.gate.run(ctx, "key-create", tenant, f"{ring}/{body.name}", work)


@router.get(KEY, name="key-read")
def read_key(*, tenant: str, ring: str, name: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)
    return service.gate.run(
        ctx, "key-read", tenant, f"{ring}/{name}", lambda: (service.vault.key(path), {})
    )


@router.post(KEY + "/rotate", name="key-rotate")
def rotate_key(*, tenant: str, ring: str, name: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        record = service.vault.rotate(path, by=ctx.caller.principal)
        return public_view(record), _key_fields(record)

    return service.gate.run(ctx, "key-rotate", tenant, f"{ring}/{name}", work)


@router.patch(KEY, name="key-update")
def update_key(
    *, tenant: str, ring: str, name: str, body: KeyUpdate, request: Request, ctx: Ctx
) -> dict[str, Any]:
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)
    period: int | bool | None = None if body.clear_rotation else (body.rotation_period or False)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        record = service.vault.update(
            path,
            by=ctx.caller.principal,
            enabled=body.enabled,
            min_decrypt_version=body.min_decrypt_version,
            rotation_period=period,
        )
        return public_view(record), _key_fields(record)

    return service.gate.run(ctx, "key-update", tenant, f"{ring}/{name}", work)


def _version_op(  # noqa: PLR0917 - the routes' shared body
    request: Request,
    ctx: Context,
    operation: str,
    tenant: str,
    ring: str,
    name: str,
    version: int,
    action: str,
) -> dict[str, Any]:
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)
    vault = service.vault
    actions = {
        "enable": lambda: vault.set_version_enabled(path, version, True, by=ctx.caller.principal),
        "disable": lambda: vault.set_version_enabled(path, version, False, by=ctx.caller.principal),
        "request": lambda: vault.request_destruction(path, version, by=ctx.caller.principal),
        "approve": lambda: vault.approve_destruction(path, version, by=ctx.caller.principal),
        "cancel": lambda: vault.cancel_destruction(path, version, by=ctx.caller.principal),
    }

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        record = actions[action]()
        return public_view(record), {
            "tulou.key.id": f"{path}@v{version}",
            "tulou.key.version": version,
        }

    return service.gate.run(ctx, operation, tenant, f"{ring}/{name}", work)


@router.post(KEY + "/versions/{version}/enable", name="key-update-enable")
def enable_version(
    *, tenant: str, ring: str, name: str, version: int, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _version_op(request, ctx, "key-update", tenant, ring, name, version, "enable")


@router.post(KEY + "/versions/{version}/disable", name="key-update-disable")
def disable_version(
    *, tenant: str, ring: str, name: str, version: int, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _version_op(request, ctx, "key-update", tenant, ring, name, version, "disable")


@router.post(KEY + "/versions/{version}/destroy", name="key-destroy-request")
def request_destroy(
    *, tenant: str, ring: str, name: str, version: int, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _version_op(request, ctx, "key-destroy-request", tenant, ring, name, version, "request")


@router.post(KEY + "/versions/{version}/destroy/approve", name="key-destroy-approve")
def approve_destroy(
    *, tenant: str, ring: str, name: str, version: int, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _version_op(request, ctx, "key-destroy-approve", tenant, ring, name, version, "approve")


@router.post(KEY + "/versions/{version}/destroy/cancel", name="key-destroy-cancel")
def cancel_destroy(
    *, tenant: str, ring: str, name: str, version: int, request: Request, ctx: Ctx
) -> dict[str, Any]:
    return _version_op(request, ctx, "key-destroy-cancel", tenant, ring, name, version, "cancel")


@router.get(KEY + "/public-key", name="public-key")
def public_key(
    *, tenant: str, ring: str, name: str, request: Request, ctx: Ctx, version: int | None = None
) -> dict[str, Any]:
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        number, pub = service.vault.public_key(path, version)
        return (
            {
                "key_id": f"{path}@v{number}",
                "version": number,
                "public_key": pub.to_pem().decode(),
                "fingerprint": pub.fingerprint(),
            },
            {"tulou.key.id": f"{path}@v{number}", "tulou.key.version": number},
        )

    return service.gate.run(ctx, "public-key", tenant, f"{ring}/{name}", work)


@router.post(KEY + "/export", name="export")
def export_key(
    *, tenant: str, ring: str, name: str, body: ExportRequest, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """Export an exportable key's material, SM2-encrypted to the given public key."""
    service = _svc(request)
    path = KeyPath.of(tenant, ring, name)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            recipient = SM2PublicKey.from_pem(body.public_key.encode())
        except TulouError:
            raise ServiceError("bad-request", "public_key is not an SM2 public key (PEM)") from None
        material = service.vault.export(path, body.version)
        return (
            {
                "key_id": material.key_id,
                "version": material.version,
                "type": material.type,
                "wrapped": b64(recipient.encrypt(material.secret)),
            },
            {
                "tulou.key.id": material.key_id,
                "tulou.key.version": material.version,
                "tulou.recipient.fingerprint": recipient.fingerprint(),
            },
        )

    return service.gate.run(ctx, "export", tenant, f"{ring}/{name}", work)


IMPORT_KEY = KeyPath("city", "kms", "import")


@router.get("/import-key", name="key-import-key")
def import_key(request: Request, ctx: Ctx) -> dict[str, Any]:
    """The SM2 public key that material to import is encrypted to (GM/T 0009)."""
    service = _svc(request)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        version, pub = service.vault.public_key(IMPORT_KEY)
        key_id = f"{IMPORT_KEY}@v{version}"
        return {"key_id": key_id, "version": version, "public_key": pub.to_pem().decode()}, {
            "tulou.key.id": key_id
        }

    return service.gate.run(ctx, "key-import", IMPORT_KEY.tenant, "kms/import", work)


@router.post("/tenants/{tenant}/rings/{ring}/keys/import", name="key-import", status_code=201)
def import_material(
    *, tenant: str, ring: str, body: KeyImport, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """Bring a key in: its material SM2-encrypted to the import key, never in clear."""
    service = _svc(request)
    path = KeyPath.of(tenant, ring, body.name)

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        unwrapper = service.vault.material(IMPORT_KEY, "decrypt")
        assert unwrapper.private is not None
        try:
            material = unwrapper.private.decrypt(unb64(body.wrapped, "wrapped"))
        except TulouError:
            raise ServiceError("decrypt-failed", "the wrapped material does not decrypt") from None
        record = service.vault.create_key(
            path, body.type, by=ctx.caller.principal, exportable=body.exportable, imported=material
        )
        return public_view(record), {**_key_fields(record), "event.reason": "imported"}

    return service.gate.run(ctx, "key-import", tenant, f"{ring}/{body.name}", work)
