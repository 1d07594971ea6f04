"""The master-key seam: what wraps every key the service holds.

A :class:`MasterKey` wraps and unwraps key material (SM4-GCM sealed, associated data binding the
key's identity) and authenticates records (HMAC-SM3). The service never sees the master key
itself through this interface, so a hardware module can implement it:

- ``passphrase``: PBKDF2-HMAC-SM3 over a passphrase from the environment (salt and iteration
  count kept in the store's ``service.json``), the default;
- ``env``: 32 random bytes, hex, in an environment variable (for deployments whose secret
  manager injects keys);
- a GM/T 0018 (SDF) crypto card or a PKCS#11 module plugs in by implementing the same four
  methods over the device (docs/crypto.md, "Master key"): ``wrap`` = ``SDF_Encrypt`` with a
  KEK index / ``C_WrapKey``-style encryption under a non-extractable SM4 key, ``mac`` =
  ``SDF_CalculateMAC`` / ``C_Sign`` with an HMAC-SM3 key on the device.

Registry: :data:`MASTER_KEYS` (id -> factory), duplicates refused.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from crypto import sm4
from crypto.sm3 import hmac_sm3, pbkdf2_sm3
from tulou.errors import ConfigError, VerificationError

_CHECK = b"tulou-kms-master-check/v1"


class MasterKey(Protocol):
    """Wraps key material and authenticates records.

    Contract: ``unwrap(wrap(x, aad), aad) == x``; ``unwrap`` MUST raise
    :class:`VerificationError` for any other ``aad`` or any change of the blob; ``mac`` is a
    deterministic 32-byte PRF of its input; ``describe()`` returns only public parameters
    (stored beside the keys so the same master can be re-opened); nothing secret in reprs.
    """

    provider: str

    def wrap(self, material: bytes, aad: bytes) -> bytes: ...
    def unwrap(self, blob: bytes, aad: bytes) -> bytes: ...
    def mac(self, data: bytes) -> bytes: ...
    def describe(self) -> dict[str, Any]: ...


class SoftwareMasterKey:
    """A 32-byte master secret in process memory: SM4 wrapping key + HMAC-SM3 key."""

    def __init__(self, provider: str, secret: bytes, params: dict[str, Any]) -> None:
        if len(secret) != 32:
            raise ConfigError("the master secret is 32 bytes")
        self.provider = provider
        self._wrap, self._mac = secret[:16], secret[16:]
        self._params = params

    def __repr__(self) -> str:
        return f"SoftwareMasterKey({self.provider}, <hidden>)"

    def wrap(self, material: bytes, aad: bytes) -> bytes:
        return sm4.seal(self._wrap, material, aad=aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        return sm4.open(self._wrap, blob, aad=aad)

    def mac(self, data: bytes) -> bytes:
        return hmac_sm3(self._mac, data)

    def describe(self) -> dict[str, Any]:
        return {"provider": self.provider, **self._params, "check": self.mac(_CHECK).hex()}


def check(master: MasterKey, described: dict[str, Any]) -> None:
    """Refuse a master key that is not the one the store was created with."""
    expected = str(described.get("check", ""))
    if not hmac.compare_digest(master.mac(_CHECK).hex(), expected):
        raise VerificationError("wrong master key for this key store")


def _env(var: str) -> bytes:
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"environment variable {var} is not set (master key)")
    return value.encode()


def passphrase_master(params: dict[str, Any], *, env_var: str) -> SoftwareMasterKey:
    """PBKDF2-HMAC-SM3 over the passphrase in ``env_var``; new salt when ``params`` has none."""
    salt = bytes.fromhex(params["salt"]) if "salt" in params else secrets.token_bytes(16)
    iterations = int(params.get("iterations", 300_000))
    secret = pbkdf2_sm3(_env(env_var), salt, length=32, iterations=iterations)
    return SoftwareMasterKey(
        "passphrase", secret, {"salt": salt.hex(), "iterations": iterations, "kdf": "pbkdf2-sm3"}
    )


def env_master(params: dict[str, Any], *, env_var: str) -> SoftwareMasterKey:
    """32 bytes, hex, in ``env_var``."""
    try:
        secret = bytes.fromhex(_env(env_var).decode())
    except ValueError:
        raise ConfigError(f"{env_var} must hold 64 hex digits (32 bytes)") from None
    return SoftwareMasterKey("env", secret, {})


MasterFactory = Callable[..., MasterKey]
#: id -> factory(params, env_var=...).
MASTER_KEYS: dict[str, MasterFactory] = {}


def register_master(provider: str, factory: MasterFactory) -> None:
    if provider in MASTER_KEYS:
        raise ConfigError(f"master key provider {provider!r} is already registered")
    MASTER_KEYS[provider] = factory


register_master("passphrase", passphrase_master)
register_master("env", env_master)
