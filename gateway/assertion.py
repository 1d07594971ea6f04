"""The signed identity assertion the gateway adds to every forwarded request.

A compact JWS signed with the gateway's SM2 key (alg ``SM2SM3``, see :mod:`gateway.sm2jwt`),
in the header named by the config (default ``X-Tulou-Identity``). Claims::

    iss   the gateway's name (config ``assertion.issuer``)
    aud   the route id (an app accepts only assertions minted for it)
    sub   the authenticated subject, absent for anonymous requests
    iat, exp (iat + ttl, default 60 s), jti (fresh per request)
    tulou: {rule, groups, roles, token_issuer, token_id, device, device_id, method, path}

The upstream must verify it (docs/gateway.md has the snippet) and must accept requests only from
the gateway, since the client could otherwise reach it directly.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from gateway.sm2jwt import ALGORITHM
from gateway.tokens import make_codec


class AssertionSigner:
    def __init__(self, private_key: Any, issuer: str, kid: str, ttl: int) -> None:
        self.key = private_key
        self.issuer = issuer
        self.kid = kid
        self.ttl = ttl
        self.codec = make_codec()

    def sign(self, *, audience: str, subject: str | None, extra: dict[str, Any]) -> str:
        moment = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "iat": moment,
            "exp": moment + self.ttl,
            "jti": secrets.token_hex(16),
            "tulou": extra,
        }
        if subject is not None:
            claims["sub"] = subject
        return self.codec.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})


def verify_assertion(
    token: str, public_key: Any, *, issuer: str, audience: str, leeway: float = 5.0
) -> dict[str, Any]:
    """What an upstream app does: check signature, issuer, audience, time (raises PyJWTError)."""
    claims: dict[str, Any] = make_codec().decode(
        token,
        public_key,
        algorithms=[ALGORITHM],
        issuer=issuer,
        audience=audience,
        leeway=leeway,
        options={"require": ["iss", "aud", "iat", "exp", "jti"]},
    )
    return claims
