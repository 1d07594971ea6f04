"""Named, versioned SM2 keys with private keys wrapped at rest, and an audit event per use.

The seam (:class:`KeyStore`) hands out *operations*, never private keys: :meth:`signer` and
:meth:`decrypter` return objects that sign / decrypt and emit one audit event per call. That
keeps an HSM or KMS possible behind the same interface, where keys never leave the device.

Implementations, by registry id (:mod:`crypto.keystores`): ``file`` (``FileKeyStore``, the
default; on-disk format in docs/crypto.md) and ``memory`` (:class:`MemoryKeyStore`, the
in-memory fake for other components' tests). Both share the wrapping logic of
:class:`RecordKeyStore` and pass one conformance suite (tests/unit/crypto/test_keystore.py).

Wrapping: a 32-byte master secret comes from PBKDF2-HMAC-SM3 over the passphrase (salt and
iteration count in ``keystore.json``); its first half is the SM4 wrapping key (sealed with
:func:`crypto.sm4.seal`, associated data binding name, version and fingerprint), its second half
an HMAC-SM3 key that authenticates each record's public fields, so a swapped public key or a
record moved to another name is detected before use.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from crypto import sm4
from crypto.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey
from crypto.sm3 import hmac_sm3, pbkdf2_sm3
from tulou.errors import (
    InputError,
    NotFoundError,
    PolicyDeniedError,
    UnavailableError,
    UsageError,
    VerificationError,
)
from tulou.events import Event, event_id, format_timestamp

AuditSink = Callable[[Event], None]
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]{0,63})(?:@v(?P<version>[1-9][0-9]{0,5}))?$")


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about one key version. ``key_id`` is ``name@vN``."""

    name: str
    version: int
    fingerprint: str
    created: str
    active: bool
    algorithm: str = "SM2"

    @property
    def key_id(self) -> str:
        return f"{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key_id": self.key_id}


class KeySigner(Protocol):
    """Signs with one key version; every call is audited."""

    info: KeyInfo

    def public_key(self) -> SM2PublicKey: ...
    def sign(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes: ...
    def sign_raw(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes: ...
    def sign_hashed(self, e: bytes) -> bytes: ...


class KeyDecrypter(Protocol):
    """Decrypts with one key version; every call is audited."""

    info: KeyInfo

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class KeyStore(Protocol):
    """A store of named, versioned SM2 keys.

    Contract: names match ``[a-z0-9][a-z0-9._-]{0,63}``; a reference is ``name`` (the active,
    i.e. newest, version) or ``name@vN``. ``create`` MUST refuse an existing name; ``rotate``
    MUST add version N+1 and make it the only active one; older versions MUST stay available
    for ``public_key`` and ``decrypter`` but MUST be refused by ``signer``
    (:class:`PolicyDeniedError`). Private keys MUST never be stored unwrapped nor returned.
    Every private-key operation MUST emit exactly one audit event (success or failure), and
    MUST fail closed if the audit sink fails. Unknown names raise :class:`NotFoundError`.
    """

    def create(self, name: str) -> KeyInfo: ...
    def import_key(self, name: str, key: SM2PrivateKey) -> KeyInfo: ...
    def rotate(self, name: str) -> KeyInfo: ...
    def list(self) -> list[KeyInfo]: ...
    def info(self, ref: str) -> KeyInfo: ...
    def public_key(self, ref: str) -> SM2PublicKey: ...
    def signer(self, ref: str, *, purpose: str = "") -> KeySigner: ...
    def decrypter(self, ref: str, *, purpose: str = "") -> KeyDecrypter: ...


def parse_ref(ref: str) -> tuple[str, int | None]:
    match = _REF.match(ref)
    if not match:
        raise UsageError(f"not a key reference (name or name@vN): {ref!r}")
    version = match.group("version")
    return match.group("name"), int(version) if version else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise InputError(f"{what}: invalid base64") from None


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


def _canonical(record: dict[str, Any]) -> bytes:
    public = {k: v for k, v in record.items() if k != "mac"}
    return json.dumps(public, sort_keys=True, separators=(",", ":")).encode()


class _Signer:
    def __init__(self, store: RecordKeyStore, info: KeyInfo, key: SM2PrivateKey, purpose: str):
        self.info = info
        self._store, self._key, self._purpose = store, key, purpose

    def __repr__(self) -> str:
        return f"KeySigner({self.info.key_id})"

    def public_key(self) -> SM2PublicKey:
        return self._key.public_key()

    def sign_hashed(self, e: bytes) -> bytes:
        with self._store.audited("key-sign", self.info, self._purpose, {"tulou.key.e": e.hex()}):
            return self._key.sign_hashed(e)

    def sign(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes:
        return self.sign_hashed(self._key.public_key().digest(data, uid))

    def sign_raw(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes:
        from crypto.sm2 import signature_to_raw  # noqa: PLC0415 - keep the public import small

        return signature_to_raw(self.sign(data, uid=uid))


class _Decrypter:
    def __init__(self, store: RecordKeyStore, info: KeyInfo, key: SM2PrivateKey, purpose: str):
        self.info = info
        self._store, self._key, self._purpose = store, key, purpose

    def __repr__(self) -> str:
        return f"KeyDecrypter({self.info.key_id})"

    def decrypt(self, ciphertext: bytes) -> bytes:
        with self._store.audited("key-decrypt", self.info, self._purpose, {}):
            return self._key.decrypt(ciphertext)


class RecordKeyStore:
    """The shared logic; subclasses provide record storage (four small methods)."""

    def __init__(self, master: bytes, audit: AuditSink) -> None:
        if len(master) != 32:
            raise UsageError("the key store master secret is 32 bytes")
        self._wrap_key, self._mac_key = master[:16], master[16:]
        self._audit = audit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<master key hidden>)"

    # -- storage primitives -------------------------------------------------------------
    def _names(self) -> list[str]:
        raise NotImplementedError

    def _versions(self, name: str) -> list[int]:
        raise NotImplementedError

    def _read(self, name: str, version: int) -> dict[str, Any]:
        raise NotImplementedError

    def _write_new(self, name: str, version: int, record: dict[str, Any]) -> None:
        """Store a record; MUST raise :class:`UsageError` if that version already exists."""
        raise NotImplementedError

    # -- audit ----------------------------------------------------------------------------
    def audited(
        self, action: str, info: KeyInfo, purpose: str, extra: dict[str, Any]
    ) -> contextlib.AbstractContextManager[None]:
        """Emit one audit event for the enclosed private-key operation (fail closed)."""
        return audited(self._audit, action, info, purpose, extra)

    # -- records ----------------------------------------------------------------------------
    def _aad(self, name: str, version: int, fingerprint: str) -> bytes:
        return f"tulou-key/v1|{name}|{version}|{fingerprint}".encode()

    def _new_version(self, name: str, key: SM2PrivateKey, version: int) -> KeyInfo:
        pub = key.public_key()
        record: dict[str, Any] = {
            "format": "tulou-key",
            "format_version": 1,
            "name": name,
            "version": version,
            "algorithm": "SM2",
            "created": _now(),
            "fingerprint": pub.fingerprint(),
            "public_key": pub.to_pem().decode(),
            "wrapped_private_key": _b64(
                sm4.seal(
                    self._wrap_key, key.to_der(), aad=self._aad(name, version, pub.fingerprint())
                )
            ),
        }
        record["mac"] = hmac_sm3(self._mac_key, _canonical(record)).hex()
        info = self._info(record, active=True)
        with self.audited("key-create" if version == 1 else "key-rotate", info, "", {}):
            self._write_new(name, version, record)
        return info

    @staticmethod
    def _info(record: dict[str, Any], *, active: bool) -> KeyInfo:
        return KeyInfo(
            name=record["name"],
            version=record["version"],
            fingerprint=record["fingerprint"],
            created=record["created"],
            active=active,
        )

    def _checked(self, name: str, version: int) -> dict[str, Any]:
        record = self._read(name, version)
        expected = hmac_sm3(self._mac_key, _canonical(record)).hex()
        if not secrets.compare_digest(expected, str(record.get("mac", ""))):
            raise VerificationError(f"key record {name}@v{version} failed its integrity check")
        if record.get("name") != name or record.get("version") != version:
            raise VerificationError(f"key record {name}@v{version} was moved or renamed")
        return record

    def _resolve(self, ref: str) -> tuple[dict[str, Any], bool]:
        name, version = parse_ref(ref)
        versions = self._versions(name)
        if not versions:
            raise NotFoundError(f"no key named {name!r}")
        newest = max(versions)
        version = newest if version is None else version
        if version not in versions:
            raise NotFoundError(f"key {name!r} has no version {version}")
        return self._checked(name, version), version == newest

    def _unwrap(self, record: dict[str, Any]) -> SM2PrivateKey:
        aad = self._aad(record["name"], record["version"], record["fingerprint"])
        der = sm4.open(self._wrap_key, _unb64(record["wrapped_private_key"], "key record"), aad=aad)
        key = SM2PrivateKey.from_der(der)
        if key.public_key().fingerprint() != record["fingerprint"]:
            raise VerificationError("wrapped private key does not match its public key")
        return key

    # -- KeyStore -----------------------------------------------------------------------------
    def create(self, name: str) -> KeyInfo:
        return self.import_key(name, SM2PrivateKey.generate())

    def import_key(self, name: str, key: SM2PrivateKey) -> KeyInfo:
        if not _NAME.match(name):
            raise UsageError(f"invalid key name {name!r}: use [a-z0-9][a-z0-9._-]{{0,63}}")
        if self._versions(name):
            raise UsageError(f"a key named {name!r} already exists (rotate it instead)")
        return self._new_version(name, key, 1)

    def rotate(self, name: str) -> KeyInfo:
        versions = self._versions(parse_ref(name)[0])
        if not versions:
            raise NotFoundError(f"no key named {name!r}")
        return self._new_version(name, SM2PrivateKey.generate(), max(versions) + 1)

    def list(self) -> list[KeyInfo]:
        out = []
        for name in sorted(self._names()):
            versions = sorted(self._versions(name))
            for version in versions:
                out.append(self._info(self._checked(name, version), active=version == versions[-1]))
        return out

    def info(self, ref: str) -> KeyInfo:
        record, active = self._resolve(ref)
        return self._info(record, active=active)

    def public_key(self, ref: str) -> SM2PublicKey:
        record, _ = self._resolve(ref)
        key = SM2PublicKey.from_pem(record["public_key"].encode())
        if key.fingerprint() != record["fingerprint"]:
            raise VerificationError(f"key record {ref} has an inconsistent public key")
        return key

    def signer(self, ref: str, *, purpose: str = "") -> KeySigner:
        record, active = self._resolve(ref)
        info = self._info(record, active=active)
        if not active:
            with self.audited("key-sign", info, purpose, {}):
                raise PolicyDeniedError(f"{info.key_id} is retired: verify and decrypt only")
        return _Signer(self, info, self._unwrap(record), purpose)

    def decrypter(self, ref: str, *, purpose: str = "") -> KeyDecrypter:
        record, active = self._resolve(ref)
        return _Decrypter(self, self._info(record, active=active), self._unwrap(record), purpose)


@contextlib.contextmanager
def audited(
    sink: AuditSink, action: str, info: KeyInfo, purpose: str, extra: dict[str, Any]
) -> Iterator[None]:
    """One ``crypto.keystore`` audit event for the enclosed operation, success or failure.

    Shared by every key store (file, memory, kms); a sink failure refuses the operation.
    """
    outcome, reason = "success", ""
    try:
        yield
    except Exception as exc:
        outcome, reason = "failure", type(exc).__name__
        raise
    finally:
        event: Event = {
            "@timestamp": _now(),
            "event.id": event_id("crypto.keystore", uuid.uuid4().hex),
            "event.dataset": "crypto.keystore",
            "event.kind": "event",
            "event.category": ["configuration"],
            "event.type": ["access"],
            "event.action": action,
            "event.outcome": outcome,
            "event.reason": reason or None,
            "user.name": _user(),
            "process.pid": os.getpid(),
            "tulou.key.id": info.key_id,
            "tulou.key.fingerprint": info.fingerprint,
            "tulou.key.purpose": purpose or None,
            **extra,
        }
        event["event.original"] = json.dumps(event, sort_keys=True)
        try:
            sink(event)
        except Exception as exc:  # noqa: BLE001 - any sink failure must deny the operation
            raise UnavailableError(f"audit sink failed, operation refused: {exc}") from None


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


class MemoryKeyStore(RecordKeyStore):
    """The in-memory fake: same wrapping and audit, records in a dict; events in ``events``."""

    def __init__(self, audit: AuditSink | None = None) -> None:
        self.events: list[Event] = []
        super().__init__(secrets.token_bytes(32), audit or self.events.append)
        self._records: dict[tuple[str, int], dict[str, Any]] = {}

    def _names(self) -> list[str]:
        return sorted({name for name, _ in self._records})

    def _versions(self, name: str) -> list[int]:
        return [v for n, v in self._records if n == name]

    def _read(self, name: str, version: int) -> dict[str, Any]:
        return json.loads(json.dumps(self._records[(name, version)]))  # type: ignore[no-any-return]

    def _write_new(self, name: str, version: int, record: dict[str, Any]) -> None:
        if (name, version) in self._records:
            raise UsageError(f"{name}@v{version} already exists")
        self._records[(name, version)] = json.loads(json.dumps(record))


def derive_master(passphrase: bytes, salt: bytes, iterations: int) -> bytes:
    """The 32-byte master secret of a store (PBKDF2-HMAC-SM3)."""
    return pbkdf2_sm3(passphrase, salt, length=32, iterations=iterations)
