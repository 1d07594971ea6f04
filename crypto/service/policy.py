"""Authorisation (caller x key x operation) and per-caller quotas. Pure logic, no I/O.

A policy is an ordered list of rules; the first rule that matches the caller, the tenant, the
key and the operation decides; nothing matching means **deny**. A rule::

    {"id": "hr-app-encrypt", "effect": "allow" | "deny",
     "callers": ["service:hr-app", "user:alice", "group:officers", "role:kms-admin"],
     "tenants": ["hr"], "keys": ["records/*", "*"], "operations": ["encrypt", "decrypt"]}

``keys`` are ``ring/key`` glob patterns (``fnmatch``; ``*`` alone matches every key and also
tenant-level operations that name no key); ``tenants`` may be ``["*"]``. Operations are the
names in :data:`OPERATIONS`. Destruction approval is its own operation so that officers can
be granted it separately; the second-officer rule itself is enforced by the vault.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from tulou.errors import ConfigError

OPERATIONS: Final = frozenset(
    {
        "encrypt", "decrypt", "rewrap", "generate-data-key", "mac", "mac-verify",
        "sign", "verify", "public-key", "export",
        "key-create", "key-import", "key-read", "key-rotate", "key-update",
        "key-destroy-request", "key-destroy-approve", "key-destroy-cancel",
        "tenant-create", "ring-create",
        "cert-issue", "cert-revoke", "cert-read", "crl-publish", "cert-validate",
        "cms-sign", "cms-verify", "timestamp", "timestamp-verify",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller. ``kind`` is ``service`` (token + mTLS) or ``user`` (gateway)."""

    kind: str
    name: str
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    via: str = ""  # "token", "token+mtls", "gateway"

    @property
    def principal(self) -> str:
        return f"{self.kind}:{self.name}"

    def selectors(self) -> set[str]:
        return {
            self.principal,
            *(f"group:{g}" for g in self.groups),
            *(f"role:{r}" for r in self.roles),
            "*",
        }


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    effect: str
    callers: frozenset[str]
    tenants: tuple[str, ...]
    keys: tuple[str, ...]
    operations: frozenset[str]

    def matches(self, caller: Caller, tenant: str, key: str | None, operation: str) -> bool:
        if operation not in self.operations and "*" not in self.operations:
            return False
        if not (self.callers & caller.selectors()):
            return False
        if not any(fnmatch.fnmatchcase(tenant, t) for t in self.tenants):
            return False
        if key is None:
            return "*" in self.keys
        return any(fnmatch.fnmatchcase(key, k) for k in self.keys)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str | None
    reason: str


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError("must be a non-empty list of strings", location=where)
    return list(value)


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    #: Decisions already taken (the rules are frozen, so an entry never goes stale).
    _memo: dict[tuple[Caller, str, str | None, str], Decision] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_data(cls, data: Iterable[Any]) -> Policy:
        rules, seen = [], set()
        for index, item in enumerate(data):
            where = f"policy[{index}]"
            if not isinstance(item, dict):
                raise ConfigError("a rule is a mapping", location=where)
            unknown = set(item) - {"id", "effect", "callers", "tenants", "keys", "operations"}
            if unknown:
                raise ConfigError(f"unknown fields {sorted(unknown)}", location=where)
            rule_id = str(item.get("id") or "")
            if not rule_id or rule_id in seen:
                raise ConfigError("every rule needs a unique id", location=where)
            seen.add(rule_id)
            effect = item.get("effect", "allow")
            if effect not in ("allow", "deny"):
                raise ConfigError("effect is allow or deny", location=where)
            operations = set(_strings(item.get("operations"), f"{where}.operations"))
            bad = operations - OPERATIONS - {"*"}
            if bad:
                raise ConfigError(f"unknown operations {sorted(bad)}", location=where)
            rules.append(
                Rule(
                    id=rule_id,
                    effect=effect,
                    callers=frozenset(_strings(item.get("callers"), f"{where}.callers")),
                    tenants=tuple(_strings(item.get("tenants", ["*"]), f"{where}.tenants")),
                    keys=tuple(_strings(item.get("keys", ["*"]), f"{where}.keys")),
                    operations=frozenset(operations),
                )
            )
        return cls(tuple(rules))

    def decide(self, caller: Caller, tenant: str, key: str | None, operation: str) -> Decision:
        """First matching rule decides; no match denies. ``key`` is ``ring/key`` or None."""
        memo = (caller, tenant, key, operation)
        found = self._memo.get(memo)
        if found is not None:
            return found
        decision = self._decide(caller, tenant, key, operation)
        if len(self._memo) > 50_000:
            self._memo.clear()  # bounded; a policy is immutable, so entries never go stale
        self._memo[memo] = decision
        return decision

    def _decide(self, caller: Caller, tenant: str, key: str | None, operation: str) -> Decision:
        for rule in self.rules:
            if rule.matches(caller, tenant, key, operation):
                allowed = rule.effect == "allow"
                verb = "allows" if allowed else "denies"
                return Decision(allowed, rule.id, f"rule {rule.id} {verb} {operation}")
        target = f"{tenant}/{key}" if key else tenant
        return Decision(False, None, f"no rule allows {caller.principal} {operation} on {target}")


class QuotaLimiter:
    """Token buckets per caller: ``rate`` operations per second, up to ``burst`` at once.

    A batch costs one token per item. Thread-safe. ``rate <= 0`` disables quotas.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        overrides: dict[str, tuple[float, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst = rate, burst
        self._overrides = dict(overrides or {})
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, principal: str, cost: int = 1) -> bool:
        rate, burst = self._overrides.get(principal, (self.rate, self.burst))
        if rate <= 0:
            return True
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(principal, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens < cost:
                self._buckets[principal] = (tokens, now)
                return False
            self._buckets[principal] = (tokens - cost, now)
            return True
