"""Repository keys: the master key set, the passphrase-wrapped key file, the repository config.

The *master key set* is created once per repository and shared by all of its sites:

- ``data_key`` (16 bytes): SM4-GCM key for blobs, pack headers, indexes and snapshot bodies;
- ``id_key`` (32 bytes): HMAC-SM3 key naming blobs (a blob id is HMAC-SM3(id_key, plaintext),
  so ids reveal nothing about content to anyone without the key);
- ``mac_key`` (32 bytes): HMAC-SM3 key authenticating the plaintext ``config`` file;
- ``chunker_seed`` (32-bit): selects FastCDC's gear table, so chunk boundaries (and thus the
  sizes an observer sees) cannot be predicted from known content;
- ``sign_key``: an SM2 key pair; snapshots are signed with it, and its public half is in the
  config so any site verifies snapshots without any secret.

A *key file* wraps the master key set under a passphrase: KEK = PBKDF2-HMAC-SM3(passphrase,
salt, iterations), sealed with SM4-GCM. Formats byte for byte: docs/backup.md.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crypto import sm2, sm3, sm4
from tulou.errors import InputError, UsageError, VerificationError

FORMAT_VERSION = 1
#: The repository config's format version. 2 names packs with :func:`backup.pack.pack_name`
#: version 2 (a parallel SM3 tree hash); 1 names them SM3(pack). 3 (new repositories) names
#: packs as 2 does and tells readers that its trees are version 2 (:mod:`backup.tree`: owners,
#: xattrs, hard links, special files, byte names), so a Tulou that cannot read those refuses
#: the repository instead of restoring less than it holds. Every other file (keys, index,
#: snapshots, locks) is version 1 in all three.
REPO_VERSION = 3
REPO_VERSIONS = (1, 2, 3)
KDF_NAME = "pbkdf2-hmac-sm3"
KDF_ITERATIONS = 300_000
_KEY_AAD = b"tulou-backup/key/v1"
_CONFIG_MAC_LABEL = b"tulou-backup/config/v1\n"


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise InputError(f"{what}: base64 text expected")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise InputError(f"{what}: invalid base64") from exc


def canonical(data: Any) -> bytes:
    """The canonical JSON encoding used wherever bytes are hashed, signed or MACed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class MasterKeys:
    """The secret key set of one repository. ``repr`` never shows key material."""

    data_key: bytes = field(repr=False)
    id_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)
    chunker_seed: int = field(repr=False)
    sign_key: sm2.SM2PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> MasterKeys:
        return cls(
            data_key=sm4.generate_key(),
            id_key=secrets.token_bytes(32),
            mac_key=secrets.token_bytes(32),
            chunker_seed=secrets.randbits(32),
            sign_key=sm2.SM2PrivateKey.generate(),
        )

    def blob_id(self, plaintext: bytes) -> bytes:
        """The 32-byte id of a blob: HMAC-SM3(id_key, plaintext)."""
        return sm3.hmac_sm3(self.id_key, plaintext)

    @property
    def public_key(self) -> sm2.SM2PublicKey:
        return self.sign_key.public_key()

    def to_json(self) -> bytes:
        return canonical(
            {
                "version": FORMAT_VERSION,
                "data_key": b64e(self.data_key),
                "id_key": b64e(self.id_key),
                "mac_key": b64e(self.mac_key),
                "chunker_seed": self.chunker_seed,
                "sign_key": b64e(self.sign_key.to_der()),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> MasterKeys:
        try:
            data = json.loads(raw)
            return cls(
                data_key=b64d(data["data_key"], "data_key"),
                id_key=b64d(data["id_key"], "id_key"),
                mac_key=b64d(data["mac_key"], "mac_key"),
                chunker_seed=int(data["chunker_seed"]),
                sign_key=sm2.SM2PrivateKey.from_der(b64d(data["sign_key"], "sign_key")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError("the master key set is malformed") from exc


def wrap(keys: MasterKeys, passphrase: str, *, iterations: int = KDF_ITERATIONS) -> bytes:
    """A key file: the master key set sealed under a key derived from ``passphrase``."""
    if len(passphrase) < 8:
        raise UsageError("the repository passphrase must be at least 8 characters")
    salt = secrets.token_bytes(16)
    kek = sm3.pbkdf2_sm3(passphrase.encode(), salt, length=16, iterations=iterations)
    sealed = sm4.seal(kek, keys.to_json(), aad=_KEY_AAD)
    document = {
        "version": FORMAT_VERSION,
        "created": now_iso(),
        "hostname": socket.gethostname(),
        "kdf": {"name": KDF_NAME, "iterations": iterations, "salt": b64e(salt)},
        "sealed": b64e(sealed),
    }
    return canonical(document)


def unwrap(raw: bytes, passphrase: str) -> MasterKeys:
    """Open a key file; :class:`VerificationError` on a wrong passphrase or a damaged file."""
    try:
        document = json.loads(raw)
        kdf = document["kdf"]
        version, kdf_name = document["version"], kdf["name"]
        iterations = int(kdf["iterations"])
        # A flipped byte in a base64 field can make it invalid base64 (InputError): damage too.
        salt = b64d(kdf["salt"], "key file salt")
        sealed = b64d(document["sealed"], "key file")
    except (KeyError, TypeError, ValueError, InputError) as exc:
        raise VerificationError("the key file is damaged (not a valid key document)") from exc
    if version != FORMAT_VERSION or kdf_name != KDF_NAME:
        raise InputError(f"unsupported key file (version {version})")
    if not 1_000 <= iterations <= 100_000_000:
        raise VerificationError("the key file's KDF work factor is out of range")
    kek = sm3.pbkdf2_sm3(passphrase.encode(), salt, length=16, iterations=iterations)
    try:
        plain = sm4.open(kek, sealed, aad=_KEY_AAD)
    except (VerificationError, InputError) as exc:
        raise VerificationError("wrong passphrase, or the key file is damaged") from exc
    return MasterKeys.from_json(plain)


# -- the repository config ------------------------------------------------------------------


@dataclass(frozen=True)
class RepoConfig:
    """The plaintext ``config`` file: identity, format version and public parameters."""

    repo_id: str
    chunk_min: int
    chunk_avg: int
    chunk_max: int
    zstd_level: int
    public_key: sm2.SM2PublicKey
    version: int = REPO_VERSION

    def body(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "id": self.repo_id,
            "chunker": {
                "algorithm": "fastcdc2020",
                "min": self.chunk_min,
                "avg": self.chunk_avg,
                "max": self.chunk_max,
            },
            "compression": {"algorithm": "zstd", "level": self.zstd_level},
            "signing_key": b64e(self.public_key.to_der()),
            "signing_key_fingerprint": self.public_key.fingerprint(),
        }

    def to_bytes(self, keys: MasterKeys) -> bytes:
        body = self.body()
        mac = sm3.hmac_sm3(keys.mac_key, _CONFIG_MAC_LABEL + canonical(body))
        return canonical({**body, "mac": mac.hex()})

    @classmethod
    def parse(cls, raw: bytes) -> tuple[RepoConfig, bytes]:
        """Parse without a key (sites verify snapshots this way); returns (config, mac)."""
        try:
            data = json.loads(raw)
            if data["version"] not in REPO_VERSIONS:
                raise InputError(
                    f"repository format version {data['version']} is not supported "
                    f"(this Tulou reads versions {', '.join(map(str, REPO_VERSIONS))})"
                )
            chunker = data["chunker"]
            config = cls(
                repo_id=str(data["id"]),
                chunk_min=int(chunker["min"]),
                chunk_avg=int(chunker["avg"]),
                chunk_max=int(chunker["max"]),
                zstd_level=int(data["compression"]["level"]),
                public_key=sm2.SM2PublicKey.from_der(b64d(data["signing_key"], "signing_key")),
                version=int(data["version"]),
            )
            mac = bytes.fromhex(data["mac"])
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise VerificationError("the repository config is damaged or not a config") from exc
        if config.public_key.fingerprint() != data.get("signing_key_fingerprint"):
            raise VerificationError("the repository config's key fingerprint does not match")
        return config, mac

    def check_mac(self, mac: bytes, keys: MasterKeys) -> None:
        try:
            sm3.verify_hmac_sm3(keys.mac_key, _CONFIG_MAC_LABEL + canonical(self.body()), mac)
        except VerificationError as exc:
            raise VerificationError(
                "the repository config does not authenticate under this key "
                "(tampered, or a key from another repository)"
            ) from exc
