"""Bearer-token verification: JWTs from several issuers, each with its own pinned keys.

Order of checks (each failure raises :class:`TokenError` with a short ``code`` for the audit):

1. The header is read *unverified* only to route the token: ``alg`` and ``kid``. Headers that
   point at keys elsewhere (``jku``, ``x5u``, ``jwk``, ``x5c``) or mark extensions critical
   (``crit``) are refused outright: keys are never fetched or taken from the token.
2. The unverified ``iss`` selects a configured issuer; ``kid`` is looked up in that issuer's
   key dictionary only (never used as a path, URL or query). Without ``kid`` the issuer must
   have exactly one key.
3. ``alg`` must equal the key's pinned algorithm (closes ``none`` and RS/HS confusion).
4. PyJWT verifies the signature and exp, iat, nbf (with leeway), iss, aud; exp, iat, iss, aud,
   sub and jti are required; exp - iat may not exceed the issuer's ``max_lifetime``.
5. Revocation of the token id and subject; then the replay cache (see ``replay``).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from gateway import sm2jwt
from gateway.issuers import Issuer
from gateway.replay import ReplayGuard
from gateway.revocation import Revocations
from tulou.errors import ReplayError, VerificationError

_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti"]


class TokenError(VerificationError):
    """A token was refused. ``code`` is a stable short reason used in audit and metrics."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    issuer: str  # the issuer's configured name
    token_id: str
    expires: float
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)


def _string_set(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    return frozenset()


def claimed_subject(token: str) -> str | None:
    """The ``sub`` a token claims, unverified (for throttling guesses per subject); or None."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    subject = payload.get("sub") if isinstance(payload, dict) else None
    return subject[:256] if isinstance(subject, str) and subject else None


def make_codec() -> jwt.PyJWT:
    """A PyJWT instance with the SM2 algorithm registered on it (not on PyJWT's global)."""
    codec = jwt.PyJWT()
    # PyJWT keeps its JWS object private; registering there scopes SM2 to this codec instead
    # of changing the process-wide default that other code in the process may rely on.
    sm2jwt.register(codec._jws)
    return codec


class TokenVerifier:
    """Verifies bearer tokens. Swap ``issuers`` / ``revocations`` atomically to hot-reload."""

    def __init__(
        self,
        issuers: Mapping[str, Issuer],
        *,
        leeway: float = 30.0,
        revocations: Revocations | None = None,
        replay: ReplayGuard | None = None,
        cache_size: int = 100_000,
    ) -> None:
        self.issuers = dict(issuers)
        self.leeway = leeway
        self.revocations = revocations or Revocations()
        self.replay = replay or ReplayGuard()
        self.cache_size = cache_size
        self._cache: dict[str, tuple[Issuer, Identity]] = {}
        self._codec = make_codec()

    def is_cached(self, token: str) -> bool:
        """Whether ``token`` passed the signature and claim checks already (no work to pay)."""
        return token in self._cache

    def verify(self, token: str, *, binding: str, now: float | None = None) -> Identity:
        """Verify ``token`` presented by ``binding`` (device fingerprint or source address).

        Signature and claim checks run once per distinct token; the result is cached until
        the token expires (bounded, dropped with this verifier on an issuers reload).
        Expiry, revocation and the replay binding are checked on every call.
        """
        moment = time.time() if now is None else now
        cached = self._cache.get(token)
        if cached is not None and moment <= cached[1].expires + self.leeway:
            issuer, identity = cached
        else:
            identity, issuer = self._verify_fresh(token)
            if len(self._cache) >= self.cache_size:
                self._cache.clear()  # crude but bounded; a refill costs one verification each
            self._cache[token] = (issuer, identity)
        revoked = self.revocations.reason(
            token_id=identity.token_id, subject=identity.subject, device=None
        )
        if revoked:
            raise TokenError("revoked", revoked)
        try:
            self.replay.check(
                identity.token_id,
                binding,
                identity.expires + self.leeway,
                moment,
                issuer.single_use,
            )
        except ReplayError as exc:
            raise TokenError("replayed", exc.message) from None
        return identity

    def _verify_fresh(self, token: str) -> tuple[Identity, Issuer]:
        """Every check that depends on the token alone (signature, claims, lifetime)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = self._codec.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("malformed", "token is not a well-formed JWT") from None
        for name in _FORBIDDEN_HEADERS:
            if name in header:
                raise TokenError("key-reference", f"token header carries {name!r}; refused")
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise TokenError("unknown-issuer", "token issuer is not trusted")
        kid = header.get("kid")
        if kid is None:
            if len(issuer.keys) != 1:
                raise TokenError("unknown-kid", "token has no kid and the issuer has several keys")
            key = next(iter(issuer.keys.values()))
        elif not isinstance(kid, str) or kid not in issuer.keys:
            raise TokenError("unknown-kid", "token kid is not in the issuer's key set")
        else:
            key = issuer.keys[kid]
        if header.get("alg") != key.alg:
            raise TokenError("wrong-alg", f"token alg does not match the key's {key.alg}")
        try:
            claims = self._decode(token, key.key, key.alg, issuer)
        except jwt.ExpiredSignatureError:
            raise TokenError("expired", "token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("not-yet-valid", "token is not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError("missing-claim", f"token lacks the {exc.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise TokenError("wrong-audience", "token audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise TokenError("wrong-issuer", "token issuer does not match") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad-signature", "token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenError("invalid", f"token is invalid: {type(exc).__name__}") from None
        if float(claims["exp"]) - float(claims["iat"]) > issuer.max_lifetime:
            raise TokenError("lifetime", "token lifetime exceeds the issuer's maximum")
        subject, token_id = claims["sub"], claims["jti"]
        if not isinstance(subject, str) or not subject or not isinstance(token_id, str):
            raise TokenError("missing-claim", "sub and jti must be non-empty strings")
        identity = Identity(
            subject=subject,
            issuer=issuer.name,
            token_id=token_id,
            expires=float(claims["exp"]),
            groups=_string_set(claims.get("groups")),
            roles=_string_set(claims.get("roles")),
            claims=claims,
        )
        return identity, issuer

    def _decode(self, token: str, key: Any, alg: str, issuer: Issuer) -> dict[str, Any]:
        # PyJWT checks exp, nbf and iat against the wall clock (with the leeway).
        claims: dict[str, Any] = self._codec.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=list(issuer.audience),
            issuer=issuer.issuer,
            leeway=self.leeway,
            options={"require": _REQUIRED, "strict_aud": False},
        )
        return claims
