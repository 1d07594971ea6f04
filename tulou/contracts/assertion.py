"""The gateway's identity assertion, as a format: what a verifier outside gateway/ needs.

The gateway (``gateway.assertion.AssertionSigner``) adds to every forwarded request a compact
JWS (RFC 7515) in the ``X-Tulou-Identity`` header: ``BASE64URL(header) "." BASE64URL(claims)
"." BASE64URL(signature)``, header ``{"alg": "SM2SM3", "typ": "JWT", "kid": ...}``, signature
the raw 64-byte SM2 ``r || s`` over the ASCII signing input with Z over the default ID
``1234567812345678`` (docs/gateway.md). Claims: ``iss``, ``aud`` (the route id), ``sub``
(absent for anonymous requests), ``iat``, ``exp``, ``jti`` and ``tulou`` =
``{rule, groups, roles, token_issuer, token_id, device, device_id, method, path}``.

This module is the one reader of that format for components that must not import the gateway
(the crypto service): it parses and checks everything except the SM2 arithmetic, which the
caller supplies as ``verify(signing_input, signature) -> bool`` (tulou's core imports no
component). The gateway's writer and this reader are checked against each other by
tests/unit/tulou/contracts/test_assertion.py. (The gateway still verifies with PyJWT in
``gateway.assertion.verify_assertion``; moving it onto this reader is the gateway's step.)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from tulou.errors import VerificationError

ALGORITHM: Final = "SM2SM3"
HEADER: Final = "X-Tulou-Identity"
SIGNATURE_SIZE: Final = 64
_MAX_TOKEN: Final = 16 * 1024
_FORBIDDEN_HEADERS: Final = ("jku", "x5u", "jwk", "x5c", "crit")
_REQUIRED: Final = ("iss", "aud", "iat", "exp", "jti")

Verifier = Callable[[bytes, bytes], bool]


@dataclass(frozen=True, slots=True)
class Assertion:
    """A verified assertion's claims."""

    issuer: str
    audience: str
    subject: str | None
    issued_at: int
    expires: int
    token_id: str
    groups: frozenset[str]
    roles: frozenset[str]
    method: str | None
    path: str | None
    claims: dict[str, Any]


def _b64(part: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise VerificationError(f"identity assertion: {what} is not base64url") from None


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    return frozenset()


def verify(
    token: str,
    verifier: Verifier,
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float = 5.0,
) -> Assertion:
    """Check a compact-JWS assertion; raise :class:`VerificationError` saying why not."""
    if not token or len(token) > _MAX_TOKEN:
        raise VerificationError("identity assertion: missing or too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationError("identity assertion: not a compact JWS")
    try:
        header = json.loads(_b64(parts[0], "header"))
        claims = json.loads(_b64(parts[1], "claims"))
    except ValueError:
        raise VerificationError("identity assertion: header or claims are not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise VerificationError("identity assertion: header and claims must be objects")
    if header.get("alg") != ALGORITHM:
        raise VerificationError(f"identity assertion: alg must be {ALGORITHM}")
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise VerificationError("identity assertion: key-reference headers are refused")
    signature = _b64(parts[2], "signature")
    if len(signature) != SIGNATURE_SIZE:
        raise VerificationError("identity assertion: the signature is not 64 bytes")
    if not verifier(f"{parts[0]}.{parts[1]}".encode("ascii"), signature):
        raise VerificationError("identity assertion: bad signature")
    missing = [name for name in _REQUIRED if name not in claims]
    if missing:
        raise VerificationError(f"identity assertion: missing claims {missing}")
    if claims["iss"] != issuer:
        raise VerificationError("identity assertion: wrong issuer")
    aud = claims["aud"]
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise VerificationError("identity assertion: wrong audience")
    iat, exp = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
        raise VerificationError("identity assertion: iat and exp must be integers")
    if exp + leeway < now:
        raise VerificationError("identity assertion: expired")
    if iat - leeway > now:
        raise VerificationError("identity assertion: issued in the future")
    found = claims.get("tulou")
    extra: dict[str, Any] = found if isinstance(found, dict) else {}
    subject = claims.get("sub")
    return Assertion(
        issuer=issuer,
        audience=audience,
        subject=subject if isinstance(subject, str) and subject else None,
        issued_at=iat,
        expires=exp,
        token_id=str(claims["jti"]),
        groups=_strings(extra.get("groups")),
        roles=_strings(extra.get("roles")),
        method=extra.get("method") if isinstance(extra.get("method"), str) else None,
        path=extra.get("path") if isinstance(extra.get("path"), str) else None,
        claims=claims,
    )
