"""Request and response bodies of the HTTP API (pydantic), one family per resource.

Binary values are standard base64 strings. Unknown fields are refused (a misspelt
``context`` must not silently encrypt without one).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crypto.service.errors import ServiceError

KeyType = Literal["sm4", "sm2", "hmac-sm3"]
NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def unb64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError("bad-request", f"{what} is not valid base64") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantCreate(Body):
    tenant: str = Field(pattern=NAME)


class RingCreate(Body):
    ring: str = Field(pattern=NAME)


class KeyCreate(Body):
    name: str = Field(pattern=NAME)
    type: KeyType
    exportable: bool = False
    rotation_period: int | None = Field(default=None, ge=1, description="seconds")
    labels: dict[str, str] = Field(default_factory=dict, max_length=32)


class KeyUpdate(Body):
    enabled: bool | None = None
    min_decrypt_version: int | None = Field(default=None, ge=1)
    rotation_period: int | None = Field(default=None, ge=1)
    clear_rotation: bool = False


class EncryptRequest(Body):
    plaintext: str = Field(description="base64")
    context: dict[str, str] = Field(default_factory=dict)


class DecryptRequest(Body):
    ciphertext: str = Field(description="base64 (SM4 keys: this service's; SM2: GM/T 0009)")
    context: dict[str, str] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, description="SM2 keys: the version")


class KeyImport(Body):
    name: str = Field(pattern=NAME)
    type: KeyType
    wrapped: str = Field(description="base64 SM2 ciphertext of the material to the import key")
    exportable: bool = False


class DataKeyRequest(Body):
    context: dict[str, str] = Field(default_factory=dict)
    include_plaintext: bool = True


class MacRequest(Body):
    data: str = Field(description="base64")


class MacVerifyRequest(Body):
    data: str
    mac: str


class SignRequest(Body):
    data: str | None = Field(default=None, description="base64 message (Z over uid is computed)")
    digest: str | None = Field(default=None, description="base64 e = SM3(Z || M), 32 bytes")
    uid: str = Field(default="1234567812345678", max_length=1024)
    form: Literal["der", "raw"] = "der"


class VerifyRequest(SignRequest):
    signature: str
    version: int | None = Field(default=None, ge=1)


class ExportRequest(Body):
    public_key: str = Field(description="PEM SM2 public key the material is encrypted to")
    version: int | None = Field(default=None, ge=1)


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    operation: Literal[
        "encrypt", "decrypt", "rewrap", "generate-data-key", "mac", "mac-verify", "sign", "verify"
    ]
    key: str = Field(description="tenant/ring/key")


class BatchRequest(Body):
    items: list[BatchItem] = Field(min_length=1)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def item_params(item: BatchItem) -> dict[str, Any]:
    return dict(item.model_extra or {})
