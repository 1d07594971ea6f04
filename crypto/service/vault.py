"""Tenants, key rings and keys with their lifecycle: the service's key store.

Terminology: a **tenant** is a department; it has **key rings**; a ring has **keys**; a key
has numbered **versions**. A key's path is ``tenant/ring/key``; a version id ``…/key@vN``.
Key types: ``sm4`` (encrypt, decrypt, rewrap, generate-data-key), ``sm2`` (sign, verify) and
``hmac-sm3`` (mac, mac-verify). Key material is created here (OpenSSL's DRBG / ``secrets``),
wrapped by the master key with associated data binding tenant, ring, key, version and type,
and never leaves unwrapped except by an explicit export of an exportable key.

Lifecycle (docs/crypto.md, "Key lifecycle"):

- the **primary** version (the newest) encrypts, signs and macs; older enabled versions at or
  above ``min_decrypt_version`` still decrypt and verify;
- **rotation** adds version N+1 and makes it primary, on demand or when ``rotation_period``
  has passed (the service's scheduler calls :meth:`Vault.rotate_due`);
- a key, and each version, can be **disabled** and enabled again;
- **destruction** of a version: an officer requests it (the version is unusable from then),
  a *different* officer approves it, and the material is erased only when the waiting period
  after the approval has passed (:meth:`Vault.destroy_due`; either officer can still cancel);
  the record keeps who requested and approved when.

Every change is one atomic record commit (:mod:`crypto.service.records`): a crash mid-rotation
leaves the key with its old or its new versions, never a half-written one.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from crypto.service.errors import ServiceError
from crypto.service.master import MasterKey
from crypto.service.records import RecordStore
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from tulou.errors import TulouError
from tulou.events import format_timestamp, parse_timestamp

NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KEY_TYPES: Final = {
    "sm4": frozenset({"encrypt", "decrypt", "rewrap", "generate-data-key"}),
    "sm2": frozenset({"sign", "verify", "decrypt"}),
    "hmac-sm3": frozenset({"mac", "mac-verify"}),
}
#: Operations that use the primary version; the others may use any usable version.
PRIMARY_USES: Final = frozenset({"encrypt", "generate-data-key", "sign", "mac", "rewrap"})
_MATERIAL_BYTES: Final = {"sm4": 16, "hmac-sm3": 32}


def check_name(value: str, what: str) -> str:
    if not NAME.match(value):
        raise ServiceError("bad-request", f"invalid {what} {value!r}: use [a-z0-9][a-z0-9._-]*")
    return value


@dataclass(frozen=True, slots=True)
class KeyPath:
    tenant: str
    ring: str
    name: str

    @classmethod
    def of(cls, tenant: str, ring: str, name: str) -> KeyPath:
        return cls(
            check_name(tenant, "tenant"), check_name(ring, "key ring"), check_name(name, "key")
        )

    @property
    def rel(self) -> str:
        return f"tenants/{self.tenant}/rings/{self.ring}/keys/{self.name}.json"

    def __str__(self) -> str:
        return f"{self.tenant}/{self.ring}/{self.name}"


@dataclass(frozen=True, slots=True)
class Material:
    """One usable key version's material (never logged; repr hides it)."""

    path: KeyPath
    version: int
    type: str
    secret: bytes  # SM4 / HMAC key bytes; the PKCS#8 DER for SM2
    private: SM2PrivateKey | None

    def __repr__(self) -> str:
        return f"Material({self.path}@v{self.version}, <hidden>)"

    @property
    def key_id(self) -> str:
        return f"{self.path}@v{self.version}"


def _now_iso(moment: float) -> str:
    return format_timestamp(datetime.fromtimestamp(moment, UTC))


def _epoch(text: str) -> float:
    return parse_timestamp(text).timestamp()


class Vault:
    """The key store of the service. Thread-safe; one process per directory."""

    def __init__(
        self,
        records: RecordStore,
        master: MasterKey,
        *,
        destruction_wait: float = 7 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records = records
        self._master = master
        self.destruction_wait = destruction_wait
        self._clock = clock
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, int, int], Material] = {}
        self._keys: dict[str, dict[str, Any]] = {}

    # -- tenants and rings ----------------------------------------------------------------
    def create_tenant(self, tenant: str, *, by: str) -> dict[str, Any]:
        check_name(tenant, "tenant")
        with self._lock:
            rel = f"tenants/{tenant}/tenant.json"
            try:
                return self._records.create(
                    rel, {"tenant": tenant, "created": self._iso(), "by": by}
                )
            except FileExistsError:
                raise ServiceError("exists", f"tenant {tenant!r} exists") from None

    def tenants(self) -> list[str]:
        return [
            t
            for t in self._records.children("tenants")
            if self._records.load(f"tenants/{t}/tenant.json")
        ]

    def create_ring(self, tenant: str, ring: str, *, by: str) -> dict[str, Any]:
        self._tenant(tenant)
        check_name(ring, "key ring")
        with self._lock:
            rel = f"tenants/{tenant}/rings/{ring}/ring.json"
            try:
                return self._records.create(
                    rel, {"tenant": tenant, "ring": ring, "created": self._iso(), "by": by}
                )
            except FileExistsError:
                raise ServiceError("exists", f"key ring {tenant}/{ring} exists") from None

    def rings(self, tenant: str) -> list[str]:
        self._tenant(tenant)
        return self._records.children(f"tenants/{tenant}/rings")

    def _tenant(self, tenant: str) -> None:
        if self._records.load(f"tenants/{check_name(tenant, 'tenant')}/tenant.json") is None:
            raise ServiceError("unknown-key", f"no tenant {tenant!r}")

    def _ring(self, tenant: str, ring: str) -> None:
        self._tenant(tenant)
        if (
            self._records.load(f"tenants/{tenant}/rings/{check_name(ring, 'key ring')}/ring.json")
            is None
        ):
            raise ServiceError("unknown-key", f"no key ring {tenant}/{ring}")

    # -- keys -------------------------------------------------------------------------------
    def _iso(self) -> str:
        return _now_iso(self._clock())

    def _aad(self, path: KeyPath, version: int, key_type: str) -> bytes:
        return f"tulou-kms-key/v1|{path}|{version}|{key_type}".encode()

    def _new_version(
        self, path: KeyPath, key_type: str, version: int, imported: bytes | None = None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"version": version, "created": self._iso(), "state": "enabled"}
        if imported is not None:
            entry["origin"] = "imported"
        if key_type == "sm2":
            try:
                private = SM2PrivateKey.from_der(imported) if imported else SM2PrivateKey.generate()
            except TulouError:
                raise ServiceError(
                    "bad-request", "imported material is not an SM2 PKCS#8 key"
                ) from None
            secret = private.to_der()
            entry["public_key"] = private.public_key().to_pem().decode()
            entry["fingerprint"] = private.public_key().fingerprint()
        elif imported is not None:
            if len(imported) != _MATERIAL_BYTES[key_type]:
                raise ServiceError(
                    "bad-request", f"{key_type} material is {_MATERIAL_BYTES[key_type]} bytes"
                )
            secret = imported
        else:
            secret = secrets.token_bytes(_MATERIAL_BYTES[key_type])
        wrapped = self._master.wrap(secret, self._aad(path, version, key_type))
        entry["wrapped"] = base64.b64encode(wrapped).decode()
        return entry

    def create_key(
        self,
        path: KeyPath,
        key_type: str,
        *,
        by: str,
        exportable: bool = False,
        rotation_period: int | None = None,
        labels: dict[str, str] | None = None,
        imported: bytes | None = None,
    ) -> dict[str, Any]:
        """Create a key; ``imported`` is material brought in (else it is generated here)."""
        if key_type not in KEY_TYPES:
            raise ServiceError("bad-request", f"unknown key type {key_type!r} (sm4, sm2, hmac-sm3)")
        if rotation_period is not None and rotation_period < 1:
            raise ServiceError("bad-request", "rotation_period must be at least 1 second")
        with self._lock:
            self._ring(path.tenant, path.ring)
            if self._load(path, missing_ok=True) is not None:
                raise ServiceError("exists", f"key {path} exists (rotate it instead)")
            now = self._clock()
            record: dict[str, Any] = {
                "format": "tulou-kms-key",
                "format_version": 1,
                "tenant": path.tenant,
                "ring": path.ring,
                "name": path.name,
                "type": key_type,
                "created": _now_iso(now),
                "enabled": True,
                "exportable": bool(exportable),
                "rotation_period": rotation_period,
                "next_rotation": _now_iso(now + rotation_period) if rotation_period else None,
                "min_decrypt_version": 1,
                "primary": 1,
                "labels": dict(labels or {}),
                "versions": [self._new_version(path, key_type, 1, imported)],
                "destruction": {},
                "history": [
                    {
                        "at": _now_iso(now),
                        "action": "import" if imported else "create",
                        "by": by,
                        "version": 1,
                    }
                ],
            }
            return self._commit(path, record)

    def _load(self, path: KeyPath, *, missing_ok: bool = False) -> dict[str, Any] | None:
        cached = self._keys.get(path.rel)
        if cached is not None:
            return cached
        try:
            record = self._records.load(path.rel)
        except TulouError as exc:
            raise ServiceError("unavailable", f"key {path}: {exc.message}") from None
        if record is None:
            if missing_ok:
                return None
            self._ring(path.tenant, path.ring)
            raise ServiceError("unknown-key", f"no key {path}")
        if (record.get("tenant"), record.get("ring"), record.get("name")) != (
            path.tenant,
            path.ring,
            path.name,
        ):
            raise ServiceError("unavailable", f"key record {path} was moved")
        self._keys[path.rel] = record
        return record

    def _commit(self, path: KeyPath, record: dict[str, Any]) -> dict[str, Any]:
        try:
            written = self._records.commit(path.rel, record)
        except OSError as exc:
            self._keys.pop(path.rel, None)  # re-read what is really on disk next time
            raise ServiceError("unavailable", f"cannot write key {path}: {exc.strerror}") from None
        self._keys[path.rel] = written
        return written

    def _history(self, record: dict[str, Any], action: str, by: str, **detail: Any) -> None:
        record["history"] = [
            *record["history"],
            {"at": self._iso(), "action": action, "by": by, **detail},
        ]

    def key_type(self, path: KeyPath) -> str:
        with self._lock:
            return str(self._require(path)["type"])

    def key(self, path: KeyPath) -> dict[str, Any]:
        """The public view of a key (no wrapped material)."""
        with self._lock:
            record = self._load(path)
            assert record is not None
            return public_view(record)

    def keys(self, tenant: str, ring: str) -> list[str]:
        self._ring(tenant, ring)
        return self._records.children(f"tenants/{tenant}/rings/{ring}/keys")

    def rotate(self, path: KeyPath, *, by: str, reason: str = "manual") -> dict[str, Any]:
        with self._lock:
            record = dict(self._require(path))
            version = max(v["version"] for v in record["versions"]) + 1
            record["versions"] = [
                *record["versions"],
                self._new_version(path, record["type"], version),
            ]
            record["primary"] = version
            if record["rotation_period"]:
                record["next_rotation"] = _now_iso(self._clock() + record["rotation_period"])
            self._history(record, "rotate", by, version=version, reason=reason)
            return self._commit(path, record)

    def _require(self, path: KeyPath) -> dict[str, Any]:
        record = self._load(path)
        assert record is not None
        return record

    def update(
        self,
        path: KeyPath,
        *,
        by: str,
        enabled: bool | None = None,
        min_decrypt_version: int | None = None,
        rotation_period: int | bool | None = False,
    ) -> dict[str, Any]:
        """Enable/disable a key, raise the minimum decryption version, change the period."""
        with self._lock:
            record = dict(self._require(path))
            changes: dict[str, Any] = {}
            if enabled is not None:
                record["enabled"] = changes["enabled"] = bool(enabled)
            if min_decrypt_version is not None:
                if not 1 <= min_decrypt_version <= record["primary"]:
                    raise ServiceError(
                        "bad-request", f"min_decrypt_version must be 1..{record['primary']}"
                    )
                if min_decrypt_version < record["min_decrypt_version"]:
                    raise ServiceError("bad-request", "the minimum decryption version only goes up")
                record["min_decrypt_version"] = changes["min_decrypt_version"] = min_decrypt_version
            if rotation_period is not False:
                period = None if rotation_period is None else int(rotation_period)
                if period is not None and period < 1:
                    raise ServiceError("bad-request", "rotation_period must be at least 1 second")
                record["rotation_period"] = changes["rotation_period"] = period
                record["next_rotation"] = _now_iso(self._clock() + period) if period else None
            if not changes:
                raise ServiceError("bad-request", "nothing to change")
            self._history(record, "update", by, **changes)
            return self._commit(path, record)

    def _version(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        for entry in record["versions"]:
            if entry["version"] == version:
                return entry  # type: ignore[no-any-return]
        raise ServiceError(
            "unknown-key",
            f"key {record['tenant']}/{record['ring']}/{record['name']} has no version {version}",
        )

    def _set_version(self, record: dict[str, Any], version: int, **fields: Any) -> None:
        record["versions"] = [
            {**v, **fields} if v["version"] == version else v for v in record["versions"]
        ]

    def set_version_enabled(
        self, path: KeyPath, version: int, enabled: bool, *, by: str
    ) -> dict[str, Any]:
        with self._lock:
            record = dict(self._require(path))
            state = self._version(record, version)["state"]
            if state in ("destroy-pending", "destroyed"):
                raise ServiceError("version-destroyed", f"{path}@v{version} is {state}")
            if not enabled and version == record["primary"]:
                raise ServiceError(
                    "bad-request", "the primary version cannot be disabled: rotate first"
                )
            self._set_version(record, version, state="enabled" if enabled else "disabled")
            self._history(
                record, "enable-version" if enabled else "disable-version", by, version=version
            )
            return self._commit(path, record)

    # -- destruction with dual control -------------------------------------------------------
    def request_destruction(self, path: KeyPath, version: int, *, by: str) -> dict[str, Any]:
        with self._lock:
            record = dict(self._require(path))
            entry = self._version(record, version)
            if entry["state"] in ("destroy-pending", "destroyed"):
                raise ServiceError("exists", f"{path}@v{version} is already {entry['state']}")
            if version == record["primary"]:
                raise ServiceError(
                    "bad-request", "the primary version cannot be destroyed: rotate first"
                )
            now = self._clock()
            record["destruction"] = {
                **record["destruction"],
                str(version): {
                    "requested_by": by,
                    "requested_at": _now_iso(now),
                    "not_before": None,  # set when approved: the waiting period follows approval
                    "previous_state": entry["state"],
                    "approved_by": None,
                    "approved_at": None,
                },
            }
            self._set_version(record, version, state="destroy-pending")
            self._history(record, "destroy-request", by, version=version)
            return self._commit(path, record)

    def approve_destruction(self, path: KeyPath, version: int, *, by: str) -> dict[str, Any]:
        with self._lock:
            record = dict(self._require(path))
            pending = record["destruction"].get(str(version))
            if pending is None or self._version(record, version)["state"] != "destroy-pending":
                raise ServiceError("not-found", f"no pending destruction of {path}@v{version}")
            if pending["approved_by"] is not None:
                raise ServiceError(
                    "exists", f"destruction of {path}@v{version} is already approved"
                )
            if pending["requested_by"] == by:
                raise ServiceError(
                    "dual-control", f"{by} requested this destruction; another officer must approve"
                )
            record["destruction"] = {
                **record["destruction"],
                str(version): {
                    **pending,
                    "approved_by": by,
                    "approved_at": self._iso(),
                    "not_before": _now_iso(self._clock() + self.destruction_wait),
                },
            }
            self._history(record, "destroy-approve", by, version=version)
            return self._commit(path, record)

    def cancel_destruction(self, path: KeyPath, version: int, *, by: str) -> dict[str, Any]:
        with self._lock:
            record = dict(self._require(path))
            pending = record["destruction"].get(str(version))
            if pending is None or self._version(record, version)["state"] != "destroy-pending":
                raise ServiceError("not-found", f"no pending destruction of {path}@v{version}")
            record["destruction"] = {
                k: v for k, v in record["destruction"].items() if k != str(version)
            }
            self._set_version(record, version, state=pending["previous_state"])
            self._history(record, "destroy-cancel", by, version=version)
            return self._commit(path, record)

    def destroy_due(self, path: KeyPath) -> list[int]:
        """Erase the material of approved versions whose waiting period is over."""
        with self._lock:
            record = dict(self._require(path))
            now = self._clock()
            done = []
            for key, pending in record["destruction"].items():
                version = int(key)
                if (
                    pending["approved_by"] is not None
                    and pending["not_before"] is not None
                    and _epoch(pending["not_before"]) <= now
                    and self._version(record, version)["state"] == "destroy-pending"
                ):
                    self._set_version(
                        record, version, state="destroyed", wrapped=None, destroyed=_now_iso(now)
                    )
                    record["destruction"] = {
                        **record["destruction"],
                        key: {**pending, "destroyed_at": _now_iso(now)},
                    }
                    self._history(record, "destroy", "scheduler", version=version)
                    done.append(version)
            if done:
                self._commit(path, record)
                self._cache = {k: v for k, v in self._cache.items() if k[0] != path.rel}
            return done

    def all_keys(self) -> list[KeyPath]:
        out = []
        for tenant in self._records.children("tenants"):
            for ring in self._records.children(f"tenants/{tenant}/rings"):
                for name in self._records.children(f"tenants/{tenant}/rings/{ring}/keys"):
                    out.append(KeyPath(tenant, ring, name))
        return out

    def rotate_due(self) -> list[str]:
        """Rotate every key whose ``next_rotation`` has passed; returns the new version ids."""
        rotated = []
        now = self._clock()
        for path in self.all_keys():
            with self._lock:
                record = self._load(path, missing_ok=True)
                due = (
                    record is not None
                    and record.get("next_rotation")
                    and _epoch(record["next_rotation"]) <= now
                )
            if due:
                written = self.rotate(path, by="scheduler", reason="scheduled")
                rotated.append(f"{path}@v{written['primary']}")
        return rotated

    # -- use ------------------------------------------------------------------------------------
    def material(self, path: KeyPath, operation: str, version: int | None = None) -> Material:
        """The material for ``operation``: primary version, or ``version`` if usable for it."""
        with self._lock:
            record = self._require(path)
            if operation not in KEY_TYPES[record["type"]]:
                raise ServiceError(
                    "wrong-key-type", f"{path} is an {record['type']} key: no {operation}"
                )
            if not record["enabled"]:
                raise ServiceError("key-disabled", f"key {path} is disabled")
            if version is None or operation in PRIMARY_USES:
                if version is not None and version != record["primary"]:
                    raise ServiceError("bad-request", f"{operation} uses the primary version only")
                version = record["primary"]
            entry = self._version(record, version)
            if entry["state"] in ("destroy-pending", "destroyed"):
                raise ServiceError("version-destroyed", f"{path}@v{version} is {entry['state']}")
            if entry["state"] == "disabled":
                raise ServiceError("key-disabled", f"{path}@v{version} is disabled")
            if version < record["min_decrypt_version"]:
                raise ServiceError(
                    "version-retired",
                    f"{path}@v{version} is below the minimum {record['min_decrypt_version']}",
                )
            cache_key = (path.rel, version, int(record["generation"]))
            found = self._cache.get(cache_key)
            if found is None:
                found = self._unwrap(path, record, entry)
                self._cache[cache_key] = found
            return found

    def _unwrap(self, path: KeyPath, record: dict[str, Any], entry: dict[str, Any]) -> Material:
        try:
            secret = self._master.unwrap(
                base64.b64decode(entry["wrapped"]),
                self._aad(path, entry["version"], record["type"]),
            )
        except TulouError:
            raise ServiceError(
                "unavailable", f"{path}@v{entry['version']}: wrapped key does not unwrap"
            ) from None
        private = None
        if record["type"] == "sm2":
            private = SM2PrivateKey.from_der(secret)
            if private.public_key().fingerprint() != entry["fingerprint"]:
                raise ServiceError("unavailable", f"{path}@v{entry['version']}: key pair mismatch")
        return Material(path, entry["version"], record["type"], secret, private)

    def public_key(self, path: KeyPath, version: int | None = None) -> tuple[int, SM2PublicKey]:
        """An SM2 key's public key (any version not destroyed; default primary)."""
        with self._lock:
            record = self._require(path)
            if record["type"] != "sm2":
                raise ServiceError("wrong-key-type", f"{path} is not an SM2 key")
            entry = self._version(record, record["primary"] if version is None else version)
            if entry["state"] == "destroyed":
                raise ServiceError("version-destroyed", f"{path}@v{entry['version']} is destroyed")
            return entry["version"], SM2PublicKey.from_pem(entry["public_key"].encode())

    def export(self, path: KeyPath, version: int | None = None) -> Material:
        """Material for export; refused unless the key is exportable."""
        with self._lock:
            record = self._require(path)
            if not record["exportable"]:
                raise ServiceError("not-exportable", f"key {path} is not exportable")
        operation = {"sm4": "decrypt", "sm2": "verify", "hmac-sm3": "mac-verify"}[record["type"]]
        return self.material(path, operation, version)


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """A key record without wrapped material or the MAC (what the API returns)."""
    out = {k: v for k, v in record.items() if k not in ("mac", "versions")}
    out["path"] = f"{record['tenant']}/{record['ring']}/{record['name']}"
    out["versions"] = [
        {k: v for k, v in entry.items() if k != "wrapped"} for entry in record["versions"]
    ]
    return out
