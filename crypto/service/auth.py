"""Who is calling: a service token (optionally bound to an mTLS client certificate) or the
gateway's SM2-signed identity assertion; and the request replay guard.

Service tokens are looked up by their SM3 digest (the configuration holds only digests), so
the token itself is never stored or compared byte by byte. A token bound to client-certificate
fingerprints is accepted only over TLS with one of those certificates. An assertion is
verified with :mod:`tulou.contracts.assertion` (the one reader) and the gateway's public key;
its ``method``/``path`` claims must match the request, so an assertion taken from one request
cannot authorise another operation.

Replay: every state-changing request carries ``X-Tulou-Request-Id`` (8-128 of
``[A-Za-z0-9._:-]``) and ``X-Tulou-Request-Time`` (milliseconds since the epoch); a time
outside the window or an id already seen from that caller within the window is refused
(``replayed-request``). The cache is bounded: when full, it refuses new requests (fail closed)
until entries expire, rather than forgetting ids that are still inside the window.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from crypto.service.config import Account, GatewayTrust
from crypto.service.errors import ServiceError
from crypto.service.policy import Caller
from crypto.sm2 import SM2PublicKey
from crypto.sm3 import sm3
from tulou.contracts import assertion
from tulou.errors import TulouError, VerificationError

REQUEST_ID = "x-tulou-request-id"
REQUEST_TIME = "x-tulou-request-time"
_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


@dataclass(frozen=True, slots=True)
class Presented:
    """What a request presents: headers (lower-case names), TLS client cert, method, path."""

    headers: Mapping[str, str]
    client_cert_der: bytes | None
    method: str
    path: str


class Authenticator:
    def __init__(
        self,
        accounts: tuple[Account, ...],
        gateway: GatewayTrust | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._accounts = {a.token_sm3: a for a in accounts}
        self._gateway = gateway
        self._gateway_key: SM2PublicKey | None = None
        if gateway is not None:
            try:
                self._gateway_key = SM2PublicKey.from_pem(gateway.public_key.read_bytes())
            except (OSError, TulouError) as exc:
                raise ServiceError(
                    "config", f"gateway public key {gateway.public_key}: {exc}"
                ) from None
        self._clock = clock

    def authenticate(self, presented: Presented) -> Caller:
        auth = presented.headers.get("authorization", "")
        if auth:
            return self._token(auth, presented)
        if self._gateway is not None and self._gateway.header.lower() in presented.headers:
            return self._assertion(presented)
        raise ServiceError("unauthenticated", "no service token or identity assertion")

    def _token(self, auth: str, presented: Presented) -> Caller:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ServiceError("unauthenticated", "Authorization must be 'Bearer <token>'")
        account = self._accounts.get(sm3(token.strip().encode()).hex())
        if account is None:
            raise ServiceError("unauthenticated", "unknown service token")
        via = "token"
        if account.client_cert_sha256:
            if presented.client_cert_der is None:
                raise ServiceError(
                    "unauthenticated", f"{account.name} must present its client certificate (mTLS)"
                )
            fingerprint = hashlib.sha256(presented.client_cert_der).hexdigest()
            if fingerprint not in account.client_cert_sha256:
                raise ServiceError(
                    "unauthenticated", "the client certificate is not bound to this token"
                )
            via = "token+mtls"
        return Caller(
            "service", account.name, frozenset(account.groups), frozenset(account.roles), via
        )

    def _assertion(self, presented: Presented) -> Caller:
        assert self._gateway is not None and self._gateway_key is not None
        key = self._gateway_key

        def check(message: bytes, signature: bytes) -> bool:
            try:
                key.verify_raw(signature, message)
            except TulouError:
                return False
            return True

        token = presented.headers.get(self._gateway.header.lower(), "")
        try:
            claims = assertion.verify(
                token,
                check,
                issuer=self._gateway.issuer,
                audience=self._gateway.audience,
                now=self._clock(),
                leeway=self._gateway.leeway,
            )
        except VerificationError as exc:
            raise ServiceError("unauthenticated", exc.message) from None
        if claims.subject is None:
            raise ServiceError("unauthenticated", "the identity assertion names no subject")
        if claims.method is not None and claims.method.upper() != presented.method.upper():
            raise ServiceError("unauthenticated", "the identity assertion is for another method")
        if self._gateway.check_path and claims.path is not None and claims.path != presented.path:
            raise ServiceError("unauthenticated", "the identity assertion is for another path")
        return Caller("user", claims.subject, claims.groups, claims.roles, "gateway")


class ReplayGuard:
    """Refuses a repeated or stale request id per caller (see the module docstring)."""

    def __init__(
        self, window: float, *, capacity: int = 200_000, clock: Callable[[], float] = time.time
    ) -> None:
        self.window = window
        self.capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, principal: str, headers: Mapping[str, str]) -> str:
        request_id = headers.get(REQUEST_ID, "")
        if not _ID.match(request_id):
            raise ServiceError(
                "bad-request", "X-Tulou-Request-Id is required (8-128 of A-Za-z0-9._:-)"
            )
        try:
            sent = int(headers.get(REQUEST_TIME, "")) / 1000.0
        except ValueError:
            raise ServiceError(
                "bad-request", "X-Tulou-Request-Time is required (epoch milliseconds)"
            ) from None
        now = self._clock()
        if abs(now - sent) > self.window:
            raise ServiceError(
                "replayed-request", f"request time is more than {self.window:g} s away"
            )
        key = (principal, request_id)
        with self._lock:
            while self._seen:
                oldest_key, expiry = next(iter(self._seen.items()))
                if expiry > now:
                    break
                del self._seen[oldest_key]
            if key in self._seen:
                raise ServiceError("replayed-request", f"request id {request_id} was already used")
            if len(self._seen) >= self.capacity:
                raise ServiceError("unavailable", "replay cache full; retry shortly")
            self._seen[key] = now + 2 * self.window
        return request_id
