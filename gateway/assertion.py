"""The signed identity assertion the gateway adds to every forwarded request.

A compact JWS signed with the gateway's SM2 key (alg ``SM2SM3``, see :mod:`gateway.sm2jwt`),
in the header named by the config (default ``X-Tulou-Identity``). Claims::

    iss   the gateway's name (config ``assertion.issuer``)
    aud   the route id (an app accepts only assertions minted for it)
    sub   the authenticated subject, absent for anonymous requests
    iat, exp (iat + ttl, default 60 s), jti (fresh per signed assertion)
    tulou: {rule, groups, roles, token_issuer, token_id, device, device_id, method, path}

Signing costs an SM2 signature (~0.35 ms), so :meth:`AssertionSigner.issue` reuses a signed
assertion for requests whose claims are all equal except ``iat``/``exp``/``jti`` (same route,
subject, token, device, rule, method and canonical path) while it is younger than ``reuse``
seconds (default half the ttl): every assertion an upstream receives still has at least
``ttl - reuse`` seconds to live, and carries exactly the claims of the request it comes with.
``jti`` therefore names one signed assertion, not one request (the request id is the
``X-Tulou-Request-Id`` header). The cache is bounded and :meth:`AssertionSigner.forget` drops it
(the gateway does so on every reload of policy, issuers, revocations or inventory).

The upstream must verify it (docs/gateway.md has the snippet) and must accept requests only from
the gateway, since the client could otherwise reach it directly.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from gateway.sm2jwt import ALGORITHM
from gateway.tokens import Identity, make_codec

if TYPE_CHECKING:
    from gateway.devices import VerifiedDevice


def _freeze(value: Any) -> Hashable:
    """A hashable stand-in for a JSON-like claim value (dicts and lists recursively)."""
    if isinstance(value, dict):
        return tuple((key, _freeze(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ("[", *(_freeze(item) for item in value))
    if value is None or type(value) is str:
        return value
    return (type(value).__name__, value)  # True, 1 and 1.0 are equal keys but differ in JSON


class AssertionSigner:
    """Signs assertions; :meth:`issue` reuses recent ones. Not thread-safe (one event loop)."""

    def __init__(
        self,
        private_key: Any,
        issuer: str,
        kid: str,
        ttl: int,
        *,
        reuse: float | None = None,
        cache_size: int = 10_000,
    ) -> None:
        self.key = private_key
        self.issuer = issuer
        self.kid = kid
        self.ttl = ttl
        self.reuse = ttl / 2 if reuse is None else min(float(reuse), float(ttl))
        self.cache_size = cache_size
        self.codec = make_codec()
        self._cache: dict[Hashable, tuple[str, int]] = {}

    def sign(
        self,
        *,
        audience: str,
        subject: str | None,
        extra: dict[str, Any],
        now: float | None = None,
    ) -> str:
        """A freshly signed assertion (new ``jti``, ``iat`` = now)."""
        return self._sign(audience, subject, extra, int(time.time() if now is None else now))

    def issue(
        self,
        *,
        audience: str,
        subject: str | None,
        extra: dict[str, Any],
        now: float | None = None,
    ) -> str:
        """An assertion with these claims: a cached one younger than ``reuse`` s, else a new one."""
        key = (audience, subject, _freeze(extra))
        return self.issue_keyed(key, audience, subject, lambda: extra, now=now)

    def issue_keyed(
        self,
        key: Hashable,
        audience: str,
        subject: str | None,
        extra: Callable[[], dict[str, Any]],
        *,
        now: float | None = None,
    ) -> str:
        """:meth:`issue` with the caller's ``key`` standing for the claims, built only to sign.

        The caller MUST derive ``key`` from everything the claims are made of (equal keys mean
        equal ``audience``, ``subject`` and ``extra()``); then this is :meth:`issue` without
        building and freezing the claims on every request.
        """
        moment = time.time() if now is None else now
        cached = self._cache.get(key)
        if cached is not None and 0 <= moment - cached[1] < self.reuse:
            return cached[0]
        issued_at = int(moment)
        token = self._sign(audience, subject, extra(), issued_at)
        if len(self._cache) >= self.cache_size:
            self._cache.clear()  # bounded; a refill costs one signature per claim set
        self._cache[key] = (token, issued_at)
        return token

    def forget(self) -> None:
        """Drop every cached assertion (the next request of each claim set signs anew)."""
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)

    def _sign(self, audience: str, subject: str | None, extra: dict[str, Any], moment: int) -> str:
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


def claims(
    rule: str,
    method: str,
    path: str,
    identity: Identity | None,
    device: VerifiedDevice | None,
) -> dict[str, Any]:
    """The ``tulou`` claim of the assertion for one allowed request."""
    return {
        "rule": rule,
        "method": method,
        "path": path,
        "groups": sorted(identity.groups) if identity else [],
        "roles": sorted(identity.roles) if identity else [],
        "token_issuer": identity.issuer if identity else None,
        "token_id": identity.token_id if identity else None,
        "device": device.fingerprint if device else None,
        "device_id": device.device_id if device else None,
    }
