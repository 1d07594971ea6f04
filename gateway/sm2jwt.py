"""The SM2 JWS algorithm, registered with PyJWT under the name ``SM2SM3``.

There is no JOSE standard for SM2, so Tulou defines this profile (docs/gateway.md):

- ``alg``: ``"SM2SM3"`` (SM2 signature over an SM3 digest, named like ``ES256`` = curve + hash);
- the signed bytes are the JWS signing input ``BASE64URL(header) "." BASE64URL(payload)``;
- the digest is SM3(Z || message) with Z computed over the default signer id
  ``1234567812345678`` (GB/T 32918.2 and GB/T 35276);
- the signature is the raw 64 bytes ``r || s`` (each 32 bytes big-endian), like ES256 and
  unlike the DER encoding that X.509 uses.

The SM2 arithmetic lives in :mod:`crypto.sm2`; this module only adapts it to PyJWT.
"""

from __future__ import annotations

from typing import Any, NoReturn

from jwt.algorithms import Algorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidKeyError

from tulou.errors import ConfigError, TulouError

ALGORITHM = "SM2SM3"
SIGNATURE_SIZE = 64


def _sm2() -> Any:
    # Imported on use: the gateway runs without SM2 until a policy or issuer needs it.
    from crypto import sm2  # noqa: PLC0415

    return sm2


class SM2Algorithm(Algorithm):
    """PyJWT adapter: keys are :class:`crypto.sm2.SM2PrivateKey` / ``SM2PublicKey`` objects."""

    def prepare_key(self, key: Any) -> Any:
        sm2 = _sm2()
        if isinstance(key, (sm2.SM2PrivateKey, sm2.SM2PublicKey)):
            return key
        if isinstance(key, (bytes, str)):
            return load_public_key(key.encode() if isinstance(key, str) else key, "<key>")
        raise InvalidKeyError("SM2SM3 needs an SM2 key")

    def sign(self, msg: bytes, key: Any) -> bytes:
        sm2 = _sm2()
        if not isinstance(key, sm2.SM2PrivateKey):
            raise InvalidKeyError("signing with SM2SM3 needs an SM2 private key")
        signature: bytes = key.sign_raw(msg)
        return signature

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        sm2 = _sm2()
        if isinstance(key, sm2.SM2PrivateKey):
            key = key.public_key()
        if not isinstance(key, sm2.SM2PublicKey) or len(sig) != SIGNATURE_SIZE:
            return False
        try:
            key.verify_raw(sig, msg)
        except TulouError:  # VerificationError, or InputError for r or s out of range
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> NoReturn:
        raise NotImplementedError("SM2 keys are configured as PEM files, not JWKs")

    @staticmethod
    def from_jwk(jwk: Any) -> NoReturn:
        raise NotImplementedError("SM2 keys are configured as PEM files, not JWKs")


def register(jws: PyJWS) -> None:
    """Register ``SM2SM3`` on one PyJWS instance (idempotent)."""
    if ALGORITHM not in jws.get_algorithms():
        jws.register_algorithm(ALGORITHM, SM2Algorithm())


def load_public_key(data: bytes, where: str) -> Any:
    """An SM2 public key from PEM. Raises :class:`ConfigError`."""
    sm2 = _sm2()
    try:
        return sm2.SM2PublicKey.from_pem(data)
    except Exception as exc:  # noqa: BLE001 - the crypto backend's parse errors vary
        raise ConfigError(f"not an SM2 public key: {type(exc).__name__}", location=where) from None


def load_private_key(data: bytes, where: str) -> Any:
    """An SM2 private key from PEM. Raises :class:`ConfigError`."""
    sm2 = _sm2()
    try:
        return sm2.SM2PrivateKey.from_pem(data)
    except Exception as exc:  # noqa: BLE001 - the crypto backend's parse errors vary
        raise ConfigError(f"not an SM2 private key: {type(exc).__name__}", location=where) from None
