"""The ``kms`` key store: SM2 keys held by the crypto service, behind the KeyStore seam.

Keys live in one tenant's key ring of the service (``kms:https://host:port/TENANT/RING``);
private keys never leave it. ``signer``/``decrypter`` send each operation to the service,
which authorises and audits it; this side also emits the seam's own ``crypto.keystore``
event per operation (the caller's record), failing closed like every key store. Signing
computes ``e = SM3(Z || M)`` here from the public key (any distinguishing ID) and has the
service sign the digest, so the data itself need not travel.

Credentials come from the environment, never the URL: ``TULOU_KMS_TOKEN`` (service token),
``TULOU_KMS_CA`` (CA file for the service's TLS certificate), ``TULOU_KMS_CLIENT_CERT`` and
``TULOU_KMS_CLIENT_KEY`` (mTLS). The gateway's envelope keys, the backup repository keys and
the report signing key can be ``kms:`` keys (docs/crypto.md, "The kms: key store").
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crypto.keystore import AuditSink, KeyInfo, audited, parse_ref
from crypto.service.client import KmsClient
from crypto.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey, signature_to_raw
from tulou.errors import ConfigError, NotFoundError, PolicyDeniedError
from tulou.events import Event


def _discard(_event: Event) -> None:
    return None


class _RemoteSigner:
    def __init__(
        self, store: KmsKeyStore, info: KeyInfo, public: SM2PublicKey, purpose: str
    ) -> None:
        self.info, self._store, self._public, self._purpose = info, store, public, purpose

    def __repr__(self) -> str:
        return f"KeySigner(kms:{self.info.key_id})"

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign_hashed(self, e: bytes) -> bytes:
        with self._store.audited("key-sign", self.info, self._purpose, {"tulou.key.e": e.hex()}):
            out = self._store.client.sign_digest(self._store.key(self.info.name), e)
            if out["version"] != self.info.version:
                raise PolicyDeniedError(f"{self.info.key_id} is no longer the active version")
            return base64.b64decode(out["signature"])

    def sign(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes:
        return self.sign_hashed(self._public.digest(data, uid))

    def sign_raw(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes:
        return signature_to_raw(self.sign(data, uid=uid))


class _RemoteDecrypter:
    def __init__(self, store: KmsKeyStore, info: KeyInfo, purpose: str) -> None:
        self.info, self._store, self._purpose = info, store, purpose

    def __repr__(self) -> str:
        return f"KeyDecrypter(kms:{self.info.key_id})"

    def decrypt(self, ciphertext: bytes) -> bytes:
        with self._store.audited("key-decrypt", self.info, self._purpose, {}):
            path = self._store.client.key_url(self._store.key(self.info.name)) + "/decrypt"
            body = {
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "version": self.info.version,
            }
            return base64.b64decode(self._store.client.request("POST", path, body)["plaintext"])


class KmsKeyStore:
    """SM2 keys of one key ring of the crypto service (the KeyStore contract)."""

    def __init__(
        self, client: KmsClient, tenant: str, ring: str, *, audit: AuditSink | None = None
    ) -> None:
        self.client, self.tenant, self.ring = client, tenant, ring
        self._audit = audit or _discard

    @classmethod
    def from_url(cls, url: str, *, audit: AuditSink | None = None) -> KmsKeyStore:
        """``kms:https://host:port/TENANT/RING``; credentials from the environment."""
        if not url.startswith("kms:"):
            raise ConfigError(f"not a kms: key store URL: {url!r}")
        parts = urlsplit(url[4:])
        segments = [p for p in parts.path.split("/") if p]
        if (
            parts.scheme not in ("http", "https")
            or len(segments) != 2
            or parts.username
            or parts.password
        ):
            raise ConfigError(
                "a kms: key store is kms:https://host:port/TENANT/RING (no credentials)"
            )
        cert, key = os.environ.get("TULOU_KMS_CLIENT_CERT"), os.environ.get("TULOU_KMS_CLIENT_KEY")
        ca = os.environ.get("TULOU_KMS_CA")
        client = KmsClient(
            f"{parts.scheme}://{parts.netloc}",
            os.environ.get("TULOU_KMS_TOKEN"),
            ca=Path(ca) if ca else None,
            client_cert=(Path(cert), Path(key)) if cert and key else None,
        )
        return cls(client, segments[0], segments[1], audit=audit)

    def __repr__(self) -> str:
        return f"KmsKeyStore({self.client.base_url}/{self.tenant}/{self.ring})"

    def audited(self, action: str, info: KeyInfo, purpose: str, extra: dict[str, Any]) -> Any:
        return audited(self._audit, action, info, purpose, {"tulou.keystore": "kms", **extra})

    def key(self, name: str) -> str:
        return f"{self.tenant}/{self.ring}/{name}"

    def _record(self, name: str) -> dict[str, Any]:
        record: dict[str, Any] = self.client.request("GET", self.client.key_url(self.key(name)))
        return record

    @staticmethod
    def _info(record: dict[str, Any], version: int) -> KeyInfo:
        for entry in record["versions"]:
            if entry["version"] == version and entry["state"] != "destroyed":
                return KeyInfo(
                    record["name"],
                    version,
                    entry["fingerprint"],
                    entry["created"],
                    active=version == record["primary"],
                )
        raise NotFoundError(f"key {record['name']!r} has no version {version}")

    def _resolve(self, ref: str) -> tuple[dict[str, Any], KeyInfo]:
        name, version = parse_ref(ref)
        record = self._record(name)
        if record["type"] != "sm2":
            raise NotFoundError(f"{name!r} is not an SM2 key")
        return record, self._info(record, record["primary"] if version is None else version)

    def create(self, name: str) -> KeyInfo:
        parse_ref(name)
        record = self.client.create_key(self.key(name), "sm2")
        info = self._info(record, 1)
        with self.audited("key-create", info, "", {}):
            return info

    def import_key(self, name: str, key: SM2PrivateKey) -> KeyInfo:
        parse_ref(name)
        target = SM2PublicKey.from_pem(
            self.client.request("GET", "/v1/import-key")["public_key"].encode()
        )
        wrapped = base64.b64encode(target.encrypt(key.to_der())).decode()
        record = self.client.request(
            "POST",
            f"/v1/tenants/{self.tenant}/rings/{self.ring}/keys/import",
            {"name": name, "type": "sm2", "wrapped": wrapped},
        )
        info = self._info(record, 1)
        with self.audited("key-create", info, "import", {}):
            return info

    def rotate(self, name: str) -> KeyInfo:
        record = self.client.request(
            "POST", self.client.key_url(self.key(parse_ref(name)[0])) + "/rotate"
        )
        info = self._info(record, record["primary"])
        with self.audited("key-rotate", info, "", {}):
            return info

    def list(self) -> list[KeyInfo]:
        names = self.client.request("GET", f"/v1/tenants/{self.tenant}/rings/{self.ring}/keys")[
            "keys"
        ]
        out = []
        for name in names:
            record = self._record(name)
            if record["type"] != "sm2":
                continue
            for entry in record["versions"]:
                if entry["state"] != "destroyed":
                    out.append(self._info(record, entry["version"]))
        return out

    def info(self, ref: str) -> KeyInfo:
        return self._resolve(ref)[1]

    def public_key(self, ref: str) -> SM2PublicKey:
        _, info = self._resolve(ref)
        out = self.client.request(
            "GET",
            self.client.key_url(self.key(info.name)) + "/public-key",
            params={"version": info.version},
        )
        key = SM2PublicKey.from_pem(out["public_key"].encode())
        if key.fingerprint() != info.fingerprint:
            raise NotFoundError(f"{info.key_id}: the service returned another public key")
        return key

    def signer(self, ref: str, *, purpose: str = "") -> _RemoteSigner:
        _, info = self._resolve(ref)
        if not info.active:
            with self.audited("key-sign", info, purpose, {}):
                raise PolicyDeniedError(f"{info.key_id} is retired: verify and decrypt only")
        return _RemoteSigner(self, info, self.public_key(info.key_id), purpose)

    def decrypter(self, ref: str, *, purpose: str = "") -> _RemoteDecrypter:
        _, info = self._resolve(ref)
        return _RemoteDecrypter(self, info, purpose)
