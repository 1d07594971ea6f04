"""Trusted token issuers and their keys, loaded from the issuers file (YAML).

::

    issuers:
      - name: city-idp                    # short id used in policy (``issuers:``) and audit
        issuer: https://idp.city.test     # the exact ``iss`` claim
        audience: [tulou-gateway]         # accepted ``aud`` values
        max_lifetime: 3600                # seconds; exp - iat above this is refused
        single_use: false                 # true: every jti may be presented once only
        keys:
          - {kid: rs-2025, alg: RS256, public_key: keys/idp-rs.pub.pem}
          - {kid: sm2-2025, alg: SM2, public_key: keys/idp-sm2.pub.pem}

Each key is pinned to exactly one algorithm: a token's ``alg`` header must equal its key's, which
closes alg=none and RS/HS confusion. Keys are local PEM files only; nothing is ever fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway import sm2jwt
from tulou.errors import ConfigError

#: The algorithms a key may be pinned to. SM2 is Tulou's own JWS profile (see ``sm2jwt``).
SUPPORTED_ALGORITHMS = ("RS256", "ES256", "EdDSA", sm2jwt.ALGORITHM)


@dataclass(frozen=True, slots=True)
class IssuerKey:
    kid: str
    alg: str
    key: Any  # a cryptography public key, or an SM2 public key for alg SM2


@dataclass(frozen=True, slots=True)
class Issuer:
    name: str
    issuer: str
    audience: tuple[str, ...]
    keys: Mapping[str, IssuerKey]
    max_lifetime: int = 3600
    single_use: bool = False


def load_public_key(path: Path, alg: str) -> Any:
    """Load a PEM public key and check it fits ``alg``. Raises :class:`ConfigError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key: {exc}", location=str(path)) from None
    if alg == sm2jwt.ALGORITHM:
        return sm2jwt.load_public_key(data, str(path))
    try:
        key = load_pem_public_key(data)
    except ValueError as exc:
        raise ConfigError(f"not a PEM public key: {exc}", location=str(path)) from None
    ok = {
        "RS256": isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048,
        "ES256": isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1),
        "EdDSA": isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)),
    }
    if not ok.get(alg, False):
        raise ConfigError(f"key does not fit algorithm {alg}", location=str(path))
    return key


def _issuer(raw: Any, base: Path, where: str) -> Issuer:
    if not isinstance(raw, dict):
        raise ConfigError("an issuer must be a mapping", location=where)
    unknown = set(raw) - {"name", "issuer", "audience", "max_lifetime", "single_use", "keys"}
    if unknown:
        raise ConfigError(f"unknown keys {sorted(unknown)}", location=where)
    name, iss = raw.get("name"), raw.get("issuer")
    if not isinstance(name, str) or not name or not isinstance(iss, str) or not iss:
        raise ConfigError("name and issuer must be non-empty strings", location=where)
    audience = raw.get("audience")
    audiences = [audience] if isinstance(audience, str) else audience
    if (
        not isinstance(audiences, list)
        or not audiences
        or not all(isinstance(a, str) and a for a in audiences)
    ):
        raise ConfigError(f"issuer {name}: audience must be a string or list", location=where)
    max_lifetime = raw.get("max_lifetime", 3600)
    if not isinstance(max_lifetime, int) or not 0 < max_lifetime <= 86400:
        raise ConfigError(f"issuer {name}: max_lifetime must be 1..86400", location=where)
    single_use = raw.get("single_use", False)
    if not isinstance(single_use, bool):
        raise ConfigError(f"issuer {name}: single_use must be true or false", location=where)
    keys: dict[str, IssuerKey] = {}
    raw_keys = raw.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ConfigError(f"issuer {name}: keys must be a non-empty list", location=where)
    for item in raw_keys:
        if not isinstance(item, dict) or set(item) != {"kid", "alg", "public_key"}:
            raise ConfigError(
                f"issuer {name}: each key needs exactly kid, alg, public_key", location=where
            )
        kid, alg = item["kid"], item["alg"]
        if not isinstance(kid, str) or not kid or kid in keys:
            raise ConfigError(f"issuer {name}: kid must be unique and non-empty", location=where)
        if alg not in SUPPORTED_ALGORITHMS:
            raise ConfigError(
                f"issuer {name}: alg {alg!r} not in {list(SUPPORTED_ALGORITHMS)}", location=where
            )
        key = load_public_key(base / str(item["public_key"]), alg)
        keys[kid] = IssuerKey(kid, alg, key)
    return Issuer(name, iss, tuple(audiences), keys, max_lifetime, single_use)


def load_issuers(path: Path) -> dict[str, Issuer]:
    """Issuers keyed by their ``iss`` claim. Raises :class:`ConfigError` on any problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read issuers: {exc}", location=str(path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("issuers"), list):
        raise ConfigError("must be a mapping with an 'issuers' list", location=str(path))
    issuers: dict[str, Issuer] = {}
    names: set[str] = set()
    for index, raw in enumerate(data["issuers"]):
        issuer = _issuer(raw, path.parent, f"{path}: issuers[{index}]")
        if issuer.issuer in issuers or issuer.name in names:
            raise ConfigError(f"duplicate issuer {issuer.name}", location=str(path))
        issuers[issuer.issuer] = issuer
        names.add(issuer.name)
    return issuers
