"""Data protection and signature operations on one key version's material. No I/O.

Ciphertext (``encrypt``, ``generate-data-key``, ``rewrap``), version 1, base64 in JSON::

    "TKMS" | 0x01 | n (1 byte) | key path (n bytes UTF-8, tenant/ring/key) | version (u32 BE)
    | sealed SM4 message (crypto.sm4.seal format) of the plaintext

with associated data = the header bytes above ``||`` the canonical JSON of the encryption
context (sorted keys, no spaces, UTF-8). The context is not stored: the caller must present
the same one to decrypt, so a ciphertext moved to another record (another context) does not
open. HMAC tags: ``"TKMC" | 0x01 | version (u32 BE) | HMAC-SM3 (32 bytes)``.
"""

from __future__ import annotations

import json
import secrets
import struct
from dataclasses import dataclass
from typing import Final

from crypto import sm4
from crypto.service.errors import ServiceError
from crypto.service.vault import KeyPath, Material
from crypto.sm2 import DEFAULT_UID, SM2PublicKey, signature_from_raw, signature_to_raw
from crypto.sm3 import hmac_sm3
from tulou.errors import InputError, UsageError, VerificationError

CT_MAGIC: Final = b"TKMS"
MAC_MAGIC: Final = b"TKMC"
FORMAT: Final = 1
DATA_KEY_BYTES: Final = 16
MAX_CONTEXT_ITEMS: Final = 32
MAX_CONTEXT_TEXT: Final = 256


def context_bytes(context: dict[str, str] | None) -> bytes:
    """The canonical encoding of an encryption context (str -> str)."""
    context = context or {}
    if len(context) > MAX_CONTEXT_ITEMS:
        raise ServiceError("bad-request", f"at most {MAX_CONTEXT_ITEMS} encryption context entries")
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ServiceError("bad-request", "encryption context keys and values are strings")
        if not key or len(key) > MAX_CONTEXT_TEXT or len(value) > MAX_CONTEXT_TEXT:
            raise ServiceError(
                "bad-request", f"context entries are 1..{MAX_CONTEXT_TEXT} characters"
            )
    return json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class CiphertextHeader:
    path: KeyPath
    version: int
    header: bytes
    sealed: bytes


def _header(path: KeyPath, version: int) -> bytes:
    name = str(path).encode()
    return CT_MAGIC + bytes([FORMAT, len(name)]) + name + struct.pack(">I", version)


def parse_ciphertext(blob: bytes) -> CiphertextHeader:
    """Split a ciphertext into the key it names and the sealed body (no key needed)."""
    if len(blob) < 6 or blob[:4] != CT_MAGIC or blob[4] != FORMAT:
        raise ServiceError("ciphertext-invalid", "not a ciphertext of this service (magic/format)")
    n = blob[5]
    end = 6 + n + 4
    if len(blob) < end + sm4.HEADER_SIZE + sm4.TAG_SIZE:
        raise ServiceError("ciphertext-invalid", "ciphertext truncated")
    try:
        tenant, ring, name = blob[6 : 6 + n].decode().split("/")
        path = KeyPath.of(tenant, ring, name)
    except (UnicodeDecodeError, ValueError, ServiceError):
        raise ServiceError("ciphertext-invalid", "ciphertext names no valid key") from None
    (version,) = struct.unpack(">I", blob[6 + n : end])
    if version < 1:
        raise ServiceError("ciphertext-invalid", "ciphertext names version 0")
    return CiphertextHeader(path, version, blob[:end], blob[end:])


def encrypt(material: Material, plaintext: bytes, context: dict[str, str] | None) -> bytes:
    header = _header(material.path, material.version)
    return header + sm4.seal(material.secret, plaintext, aad=header + context_bytes(context))


def encrypt_many(
    material: Material, records: list[bytes], context: dict[str, str] | None
) -> list[bytes]:
    """:func:`encrypt` of each record under one context (encoded once)."""
    header = _header(material.path, material.version)
    aad = header + context_bytes(context)
    return [header + sm4.seal(material.secret, record, aad=aad) for record in records]


def decrypt(material: Material, parsed: CiphertextHeader, context: dict[str, str] | None) -> bytes:
    if (parsed.path, parsed.version) != (material.path, material.version):
        raise ServiceError("wrong-tenant", "the ciphertext belongs to another key")
    try:
        return sm4.open(material.secret, parsed.sealed, aad=parsed.header + context_bytes(context))
    except (VerificationError, InputError):
        raise ServiceError(
            "decrypt-failed", "the ciphertext was tampered with or the encryption context differs"
        ) from None


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def mac(material: Material, data: bytes) -> bytes:
    return (
        MAC_MAGIC
        + bytes([FORMAT])
        + struct.pack(">I", material.version)
        + hmac_sm3(material.secret, data)
    )


def mac_version(blob: bytes) -> int:
    if len(blob) != 41 or blob[:4] != MAC_MAGIC or blob[4] != FORMAT:
        raise ServiceError("mac-invalid", "not an HMAC-SM3 tag of this service")
    (version,) = struct.unpack(">I", blob[5:9])
    return int(version)


def mac_verify(material: Material, data: bytes, blob: bytes) -> None:
    if not secrets.compare_digest(mac(material, data), blob):
        raise ServiceError("mac-invalid", "the HMAC-SM3 tag does not verify")


def sign(
    material: Material, *, data: bytes | None, digest: bytes | None, uid: bytes, raw: bool
) -> bytes:
    """SM2 signature (DER, or r||s with ``raw``) of ``data`` (Z over ``uid``) or of ``e``."""
    assert material.private is not None
    if (data is None) == (digest is None):
        raise ServiceError("bad-request", "give exactly one of data and digest")
    try:
        if digest is not None:
            signature = material.private.sign_hashed(digest)
        else:
            assert data is not None
            signature = material.private.sign(data, uid=uid)
    except UsageError as exc:
        raise ServiceError("bad-request", exc.message) from None
    return signature_to_raw(signature) if raw else signature


def verify(
    public: SM2PublicKey,
    signature: bytes,
    *,
    data: bytes | None,
    digest: bytes | None,
    uid: bytes = DEFAULT_UID,
    raw: bool = False,
) -> None:
    if (data is None) == (digest is None):
        raise ServiceError("bad-request", "give exactly one of data and digest")
    try:
        der = signature_from_raw(signature) if raw else signature
        if digest is not None:
            public.verify_hashed(der, digest)
        else:
            assert data is not None
            public.verify(der, data, uid=uid)
    except UsageError as exc:
        raise ServiceError("bad-request", exc.message) from None
    except (VerificationError, InputError):
        raise ServiceError("signature-invalid", "the SM2 signature does not verify") from None
