"""The decision pipeline of the fast plane: one request head in, one verdict out.

The steps, their order and their components are those of the mitmproxy addons
(``gateway.addons``), so both planes decide identically (``tests/integration/gateway/
test_fast_plane_differential.py`` runs the same cases through both):

1. blocked source address (``Shield``), header count;
2. device certificate (``TlsGuard``: the front passed the leaf; ``DeviceVerifier`` decides);
3. request line, Host, authority, header names and values, ``Connection`` (``Sanitizer``),
   canonical host and path;
4. route and declared body size (``Router``);
5. device revocation and inventory (``DevicePosture``);
6. bearer token with the failure buckets first (``Authenticator``);
7. subject and device buckets (``RateLimit``); 8. policy (``PolicyEnforcer``);
9. identity assertion (``Assertion``) and the canonical origin-form target (``Forwarder``).

What the front does natively instead: the per-address budget (nginx ``limit_req``), the
connection cap, head size and timeouts, plain HTTP on the TLS port, chain and CRL checks at
the handshake. Any exception denies (500), like ``gateway.addons.failsafe``.

The decision cache (:mod:`gateway.decision.cache`) remembers what a request's facts decide;
rate limits, the failure buckets and the audit fragment are still per request.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from cryptography import x509

from gateway.assertion import AssertionSigner, claims
from gateway.audit import now
from gateway.config import route_body_limit
from gateway.decision.cache import DecisionCache
from gateway.decision.front import FrontRequest
from gateway.devices import DeviceError, VerifiedDevice
from gateway.policy import (
    BUILTIN_BAD_REQUEST,
    BUILTIN_BLOCKED,
    BUILTIN_DEFAULT_DENY,
    BUILTIN_DEVICE_INVALID,
    BUILTIN_INTERNAL_ERROR,
    BUILTIN_INVALID_TOKEN,
    BUILTIN_NO_ROUTE,
    BUILTIN_RATE_LIMITED,
    BUILTIN_REVOKED,
    BUILTIN_STATE_UNAVAILABLE,
    BUILTIN_TLS_REQUIRED,
    BUILTIN_TOO_LARGE,
    Decision,
    DeviceFacts,
    DevicePosture,
    PathError,
    RequestFacts,
    canonical_host,
    canonical_path,
    encode_path,
    evaluate,
)
from gateway.routing import CanonicalRoutes
from gateway.state import Runtime
from gateway.store import BucketSpec, StoreUnavailable
from gateway.tokens import Identity, TokenError, claimed_subject

log = logging.getLogger(__name__)

_TOKENS = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?::[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_METHOD = re.compile(r"[A-Z][A-Z-]{0,31}")
_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1", "HTTP/2.0"})
_FRAMING = frozenset({"host", "content-length", "transfer-encoding"})
_cached_host = lru_cache(maxsize=4096)(canonical_host)
_cached_path = lru_cache(maxsize=4096)(canonical_path)
_encoded = lru_cache(maxsize=4096)(encode_path)

# How far a request got: what a cached decision still needs per request.
STAGE_EARLY = 0  # decided before authentication: nothing more per request
STAGE_AUTH_FORMAT = 1  # a malformed Authorization: spend the failure buckets
STAGE_AUTH_TOKEN = 2  # a token that failed: peek the failure buckets (429), then spend
STAGE_LIMITED = 3  # authenticated (or anonymous): spend the subject and device buckets


@dataclass(slots=True)
class Verdict:
    """What the decision point answers; ``facts`` are the audit's decision fields."""

    decision: Decision
    request_id: str = ""
    host: str = ""
    path: str = ""
    method: str = ""
    route_id: str | None = None
    upstream: str | None = None  # the nginx upstream block name (allowed requests)
    scheme: str = "http"  # of the route's upstream
    target: str | None = None  # canonical origin-form target forwarded upstream
    assertion: str | None = None
    identity: Identity | None = None
    device: VerifiedDevice | None = None
    posture: DevicePosture | None = None
    token_checked: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # Retry-After


@dataclass(slots=True)
class _Outcome:
    """The cacheable part of a decision (everything but the per-request steps)."""

    decision: Decision
    stage: int
    host: str = ""
    path: str = ""
    method: str = ""
    route: Any = None
    target: str | None = None
    identity: Identity | None = None
    device: VerifiedDevice | None = None
    posture: DevicePosture | None = None
    token_checked: bool = False
    claimed: str | None = None
    cacheable: bool = True
    assertion_key: tuple[Any, ...] | None = None
    expires: float = math.inf


class DecisionPoint:
    """Decides fast-plane requests with the runtime the mitmproxy addons would use."""

    def __init__(self, runtime: Runtime, *, cache_ttl: float = 0.5, cache_size: int = 65_536):
        self.runtime = runtime
        config = runtime.config
        self.table = CanonicalRoutes(config.routes)
        self.limits = {r.id: route_body_limit(config, r) for r in config.routes}
        self.largest = max(self.limits.values())
        self.signer: AssertionSigner | None = runtime.extras.get("assertion_signer")
        self.cache = DecisionCache(cache_ttl, cache_size)
        self.generation = runtime.generation
        limits = config.rate_limit
        self.subject = (
            BucketSpec(limits.subject.rate, limits.subject.burst) if limits.subject else None
        )
        self.device_spec = (
            BucketSpec(limits.device.rate, limits.device.burst) if limits.device else None
        )
        bucket = limits.auth_failure
        self.failures = BucketSpec(bucket.rate, bucket.burst) if bucket else None
        self.max_headers = config.limits.max_header_count
        self.max_token = config.limits.max_token_bytes
        self.devices: dict[str, tuple[float, VerifiedDevice | DeviceError]] = {}
        self.addresses: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}

    def reconfigure(self, config: Any) -> None:
        """New routes and body limits (a reloaded gateway config); the cache is dropped."""
        self.table = CanonicalRoutes(config.routes)
        self.limits = {r.id: route_body_limit(config, r) for r in config.routes}
        self.largest = max(self.limits.values())
        self.cache.clear()

    # -- the entry point ---------------------------------------------------------------------
    def decide(self, front: FrontRequest) -> Verdict:
        """The verdict for one request; fails closed on any unexpected error."""
        start = time.perf_counter_ns()
        try:
            verdict = self._decide(front)
        except StoreUnavailable as exc:
            reason = f"DecisionPoint raised StoreUnavailable: {exc.message}"
            verdict = Verdict(Decision.deny(BUILTIN_STATE_UNAVAILABLE, reason, 503))
        except Exception as exc:  # fail closed: never an allow after an error
            log.exception("decision failed")
            reason = f"DecisionPoint raised {type(exc).__name__}: {exc}"[:500]
            verdict = Verdict(Decision.deny(BUILTIN_INTERNAL_ERROR, reason, 500))
        verdict.request_id = front.request_id
        self.runtime.metrics.observe(
            "tulou_gateway_decision_duration_seconds",
            "Decision time (fast plane: the whole decision point).",
            (time.perf_counter_ns() - start) / 1e9,
        )
        return verdict

    def _decide(self, front: FrontRequest) -> Verdict:
        runtime = self.runtime
        if self.generation != runtime.generation:
            self.cache.clear()
            self.devices.clear()
            if self.signer is not None:
                self.signer.forget()
            self.generation = runtime.generation
        fields = front.headers
        # Per request, never cached: blocks, header count and validity (cheap scans).
        if front.address in runtime.revocations.addresses:
            return Verdict(Decision.deny(BUILTIN_BLOCKED, "source address blocked", 403))
        if len(fields) > self.max_headers:
            reason = f"more than {self.max_headers} header fields"
            return Verdict(Decision.deny(BUILTIN_TOO_LARGE, reason, 431))
        if fields and not _TOKENS.fullmatch(b":".join(f[0] for f in fields)):
            return Verdict(Decision.deny(BUILTIN_BAD_REQUEST, "a header name is not a token", 400))
        if _BAD_VALUE.search(b"\t".join(f[1] for f in fields)):
            reason = "a header value holds a control character"
            return Verdict(Decision.deny(BUILTIN_BAD_REQUEST, reason, 400))
        hosts: list[bytes] = []
        authorization: list[bytes] = []
        for name, value in fields:
            if name == b"host":
                hosts.append(value)
            elif name == b"authorization":
                authorization.append(value)
        auth_text = b"\n".join(authorization)
        key = (
            hashlib.sha256(auth_text).digest() if authorization else b"",
            front.cert or "",
            front.address,
            front.request_line,
            b"\n".join(hosts),
            front.connection or "",
            front.length or "",
            front.chunked or "",
            front.tls or "",
        )
        outcome = self.cache.get(key)
        if outcome is None:
            outcome = self._fresh(
                front, hosts, [a.decode("utf-8", "surrogateescape") for a in authorization]
            )
            if outcome.cacheable:
                self.cache.put(key, outcome, outcome.expires)
        return self._finish(front, outcome)

    # -- per request, also on a cache hit --------------------------------------------------
    def _finish(self, front: FrontRequest, outcome: _Outcome) -> Verdict:
        limiter = self.runtime.limiter
        assert limiter is not None
        verdict = Verdict(
            outcome.decision,
            host=outcome.host,
            path=outcome.path,
            method=outcome.method,
            route_id=outcome.route.id if outcome.route is not None else None,
            identity=outcome.identity,
            device=outcome.device,
            posture=outcome.posture,
            token_checked=outcome.token_checked,
        )
        stage = outcome.stage
        if stage in (STAGE_AUTH_FORMAT, STAGE_AUTH_TOKEN):
            buckets = self._failure_buckets(front.address, outcome.claimed)
            if stage == STAGE_AUTH_TOKEN:
                for bucket_key, spec in buckets:
                    if not limiter.available(bucket_key, spec):
                        return self._limited(verdict, 1 / spec.rate)
            limiter.spend(buckets)
            return verdict
        if stage == STAGE_LIMITED:
            if outcome.token_checked and self.runtime.revocations_stale():
                reason = "revocations cannot be confirmed: the shared state is unreachable"
                verdict.decision = Decision.deny(BUILTIN_STATE_UNAVAILABLE, reason, 503)
                return verdict
            spend: list[tuple[str, BucketSpec]] = []
            if self.subject is not None and outcome.identity is not None:
                spend.append((f"sub:{outcome.identity.subject}", self.subject))
            if self.device_spec is not None and outcome.device is not None:
                spend.append((f"dev:{outcome.device.fingerprint}", self.device_spec))
            if spend:
                wait = limiter.take(spend)
                if wait is not None:
                    return self._limited(verdict, wait)
        if outcome.decision.allowed and outcome.route is not None:
            verdict.upstream = f"tulou_{outcome.route.id.replace('.', '_')}"
            verdict.scheme = outcome.route.upstream_parts[0]
            verdict.target = outcome.target
            if self.signer is not None and outcome.route.assertion and outcome.assertion_key:
                identity, device = outcome.identity, outcome.device
                rule, method, path = outcome.decision.rule_id, outcome.method, outcome.path
                verdict.assertion = self.signer.issue_keyed(
                    outcome.assertion_key,
                    outcome.route.id,
                    identity.subject if identity else None,
                    lambda: claims(rule, method, path, identity, device),
                )
        return verdict

    def _limited(self, verdict: Verdict, wait: float) -> Verdict:
        verdict.decision = Decision.deny(BUILTIN_RATE_LIMITED, "rate limit exceeded", 429)
        verdict.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return verdict

    def _failure_buckets(self, address: str, claimed: str | None) -> list[tuple[str, BucketSpec]]:
        if self.failures is None:
            return []
        buckets = [(f"authfail:ip:{address}", self.failures)]
        if claimed is not None:
            buckets.append((f"authfail:sub:{claimed}", self.failures))
        return buckets

    # -- the cacheable part -------------------------------------------------------------------
    def _device(self, cert: str) -> VerifiedDevice | DeviceError:
        now = time.monotonic()
        found = self.devices.get(cert)
        if found is not None and found[0] > now:
            return found[1]
        verifier = self.runtime.devices
        outcome: VerifiedDevice | DeviceError
        if verifier is None:
            outcome = DeviceError("not-configured", "no device CA loaded")
        else:
            try:
                leaf = x509.load_pem_x509_certificate(unquote(cert).encode("ascii"))
                outcome = verifier.verify([leaf])
            except DeviceError as exc:
                outcome = exc
            except ValueError as exc:
                outcome = DeviceError("malformed", f"certificate not readable: {exc}")
        if len(self.devices) >= 4096:
            self.devices.clear()
        self.devices[cert] = (now + 60.0, outcome)
        return outcome

    def _address(self, text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        found = self.addresses.get(text)
        if found is None:
            if len(self.addresses) >= 65_536:
                self.addresses.clear()
            found = self.addresses[text] = ipaddress.ip_address(text.partition("%")[0])
        return found

    def _fresh(self, front: FrontRequest, hosts: list[bytes], auth: list[str]) -> _Outcome:
        runtime = self.runtime

        def early(rule: str, reason: str, status: int, **kw: Any) -> _Outcome:
            return _Outcome(Decision.deny(rule, reason, status), STAGE_EARLY, **kw)

        if front.tls is None:
            return early(BUILTIN_TLS_REQUIRED, "plain HTTP on the TLS listener", 400)
        device: VerifiedDevice | None = None
        if front.cert:
            checked = self._device(front.cert)
            if isinstance(checked, DeviceError):
                reason = f"device certificate refused ({checked.code}): {checked.message}"
                return early(BUILTIN_DEVICE_INVALID, reason, 403)
            device = checked
        # the request line as the client sent it
        parts = front.request_line.decode("utf-8", "surrogateescape").split(" ")
        if len(parts) != 3:
            return early(BUILTIN_BAD_REQUEST, "malformed request line", 400, device=device)
        method, target, version = parts
        if not _METHOD.fullmatch(method):
            reason = "method must be an upper-case token"
            return early(BUILTIN_BAD_REQUEST, reason, 400, device=device)
        if version not in _VERSIONS:
            return early(BUILTIN_BAD_REQUEST, "unsupported HTTP version", 400, device=device)
        try:
            if front.connection:
                nominated = {t.strip().lower() for t in front.connection.split(",") if t.strip()}
                if nominated & _FRAMING:
                    raise PathError("Connection nominates a framing header")
            if len(hosts) > 1:
                raise PathError("more than one Host header")
            host_header = hosts[0].decode("utf-8", "surrogateescape") if hosts else None
            authority = ""
            if "://" in target:  # absolute-form: its authority must be the Host
                rest = target.partition("://")[2]
                authority, slash, tail = rest.partition("/")
                target = slash + tail if slash else "/"
                if host_header and _cached_host(host_header) != _cached_host(authority):
                    raise PathError("Host header disagrees with the absolute-form target")
            raw_host = authority or host_header or ""
            if not raw_host:
                raise PathError("no Host header")
            host = _cached_host(raw_host)
            path = _cached_path(target)
        except PathError as exc:
            return early(BUILTIN_BAD_REQUEST, exc.message, 400, device=device)
        common: dict[str, Any] = {"host": host, "path": path, "method": method, "device": device}
        policy = runtime.policy
        case_sensitive = policy.case_sensitive_paths if policy is not None else False
        route = self.table.match(host, path, case_sensitive=case_sensitive)
        if route is None:
            return early(BUILTIN_NO_ROUTE, "no route for host/path", 404, **common)
        common["route"] = route
        limit = self.limits[route.id]
        declared = front.length
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            reason = f"declared body of {int(declared)} bytes exceeds the route's {limit}"
            return early(BUILTIN_TOO_LARGE, reason, 413, **common)
        if front.chunked and declared is None and limit < self.largest:
            reason = "a body without Content-Length on a route with a smaller body_limit"
            return early(BUILTIN_TOO_LARGE, reason, 411, **common)
        owners: frozenset[str] = frozenset()
        posture: DevicePosture | None = None
        if device is not None:
            revoked = runtime.revocations.reason(
                token_id=None, subject=None, device=device.fingerprint
            )
            if revoked:
                return early(BUILTIN_REVOKED, revoked, 403, **common)
            if runtime.inventory is not None:
                owners, posture = runtime.inventory.lookup(device.fingerprint, _now())
        common["posture"] = posture
        identity: Identity | None = None
        expires = math.inf
        if auth:
            common["token_checked"] = True
            verifier = runtime.tokens
            pieces = auth[0].split(" ")
            if len(auth) != 1 or len(pieces) != 2 or pieces[0].lower() != "bearer" or not pieces[1]:
                reason = "Authorization must be exactly one 'Bearer <token>'"
                decision = Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401)
                return _Outcome(decision, STAGE_AUTH_FORMAT, **common)
            token = pieces[1]
            if verifier is None:
                return early(BUILTIN_INVALID_TOKEN, "no issuers loaded", 401, **common)
            if len(token) > self.max_token:
                reason = f"token longer than {self.max_token} bytes"
                decision = Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401)
                return _Outcome(decision, STAGE_AUTH_FORMAT, **common)
            if runtime.revocations_stale():
                reason = "revocations cannot be confirmed: the shared state is unreachable"
                return early(BUILTIN_STATE_UNAVAILABLE, reason, 503, cacheable=False, **common)
            claimed: str | None = None
            if not verifier.is_cached(token):
                claimed = claimed_subject(token)
                limiter = runtime.limiter
                assert limiter is not None
                for bucket_key, spec in self._failure_buckets(front.address, claimed):
                    if not limiter.available(bucket_key, spec):
                        decision = Decision.deny(BUILTIN_RATE_LIMITED, "rate limit exceeded", 429)
                        return _Outcome(decision, STAGE_EARLY, cacheable=False, **common)
            binding = device.fingerprint if device else front.address
            try:
                identity = verifier.verify(token, binding=binding)
            except StoreUnavailable as exc:
                reason = f"replay check unavailable: {exc.message}"
                return early(BUILTIN_STATE_UNAVAILABLE, reason, 503, cacheable=False, **common)
            except TokenError as exc:
                if exc.code == "revoked":
                    return early(BUILTIN_REVOKED, exc.message, 403, **common)
                reason = f"token refused ({exc.code}): {exc.message}"
                decision = Decision.deny(BUILTIN_INVALID_TOKEN, reason, 401)
                # a replay depends on who presents it, not on this key alone: not cached
                return _Outcome(
                    decision,
                    STAGE_AUTH_TOKEN,
                    claimed=claimed if claimed is not None else claimed_subject(token),
                    cacheable=exc.code != "replayed",
                    **common,
                )
            expires = identity.expires + verifier.leeway
            issuer = verifier.issuers.get(_issuer_key(verifier, identity.issuer) or "")
            common["cacheable"] = not (issuer is not None and issuer.single_use)
        common["identity"] = identity
        common["expires"] = expires
        if policy is None:
            decision = Decision.deny(BUILTIN_DEFAULT_DENY, "no policy loaded", 403)
            return _Outcome(decision, STAGE_LIMITED, **common)
        facts = RequestFacts(
            method=method,
            host=host,
            path=path,
            source_ip=self._address(front.address),
            now=_now(),
            route_id=route.id,
            subject=identity.subject if identity else None,
            issuer=identity.issuer if identity else None,
            token_id=identity.token_id if identity else None,
            groups=identity.groups if identity else frozenset(),
            roles=identity.roles if identity else frozenset(),
            claims=identity.claims if identity else {},
            device=DeviceFacts(
                present=device is not None,
                verified=device is not None,
                fingerprint=device.fingerprint if device else None,
                device_id=device.device_id if device else None,
                owners=owners,
                posture=posture,
            ),
        )
        decision = evaluate(policy, facts)
        outcome = _Outcome(decision, STAGE_LIMITED, **common)
        if decision.allowed:
            query = target.partition("?")
            outcome.target = _encoded(path) + (query[1] + query[2] if query[1] else "")
            outcome.assertion_key = (
                "request", route.id, decision.rule_id, method, path,
                None if identity is None else identity.subject,
                None if identity is None else identity.issuer,
                None if identity is None else identity.token_id,
                None if identity is None else identity.groups,
                None if identity is None else identity.roles,
                None if device is None else device.fingerprint,
                None if device is None else device.device_id,
            )  # fmt: skip
        return outcome


def _issuer_key(verifier: Any, name: str) -> str | None:
    """The issuers-dict key (the ``iss`` URL) of the issuer configured as ``name``."""
    for key, issuer in verifier.issuers.items():
        if issuer.name == name:
            return str(key)
    return None


def _now() -> datetime:
    return now()
