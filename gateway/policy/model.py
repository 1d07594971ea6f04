"""The policy model: rules, the facts about a request, and the decision.

All types are immutable (frozen dataclasses; the per-request facts are named tuples) so a
loaded policy can be shared between requests and swapped atomically on reload. Nothing here
imports mitmproxy (checked by import-linter): the enforcement point turns a flow into
:class:`RequestFacts`, asks :func:`gateway.policy.evaluate`, and applies the
:class:`Decision`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Rule ids the enforcement point uses for decisions taken before the policy is consulted.
#: Policy files may not use the ``builtin:`` prefix (the parser refuses it).
BUILTIN_DEFAULT_DENY = "builtin:default-deny"
BUILTIN_BAD_REQUEST = "builtin:bad-request"
BUILTIN_TLS_REQUIRED = "builtin:tls-required"
BUILTIN_NO_ROUTE = "builtin:no-route"
BUILTIN_INVALID_TOKEN = "builtin:invalid-token"  # noqa: S105 - a rule id, not a secret
BUILTIN_REVOKED = "builtin:revoked"
BUILTIN_DEVICE_INVALID = "builtin:device-invalid"
BUILTIN_RATE_LIMITED = "builtin:rate-limited"
BUILTIN_ENVELOPE_INVALID = "builtin:envelope-invalid"
BUILTIN_ENDPOINT = "builtin:endpoint"
BUILTIN_INTERNAL_ERROR = "builtin:internal-error"  # an addon raised: fail closed (500)
BUILTIN_STATE_UNAVAILABLE = "builtin:state-unavailable"  # shared state down, fail closed (503)
BUILTIN_TOO_LARGE = "builtin:too-large"  # body or head over a limit (413 / 431)
BUILTIN_BLOCKED = "builtin:blocked"  # a response block pushed by the SOC (403)
BUILTIN_PROTOCOL_ERROR = "builtin:protocol-error"  # refused by the HTTP layer itself
BUILTIN_TIMEOUT = "builtin:timeout"  # head or body not received in time (408)


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class DevicePosture:
    """What the device inventory says about a device, and whether that is recent enough."""

    enrolled: bool = False
    os_patch_level: str | None = None  # "YYYY-MM" (or any string that sorts the same way)
    disk_encrypted: bool = False
    last_checkin: datetime | None = None
    fresh: bool = False  # last_checkin within the configured freshness window


class DeviceFacts(NamedTuple):
    """The client certificate after verification by the enforcement point.

    ``present`` means the client sent a certificate; ``verified`` that it chains to the device
    CA, is within its dates and is not revoked. An unverified certificate never reaches the
    policy (the enforcement point denies with ``builtin:device-invalid``).
    """

    present: bool = False
    verified: bool = False
    fingerprint: str | None = None  # SHA-256 of the DER certificate, lowercase hex
    device_id: str | None = None
    owners: frozenset[str] = frozenset()  # subjects the inventory binds this device to
    posture: DevicePosture | None = None


class RequestFacts(NamedTuple):
    """Everything a rule may look at. ``path`` is already canonical (see ``paths``).

    The facts types are immutable named tuples rather than frozen dataclasses: the enforcement
    point builds one per request, and a frozen dataclass pays an ``object.__setattr__`` call
    per field (~5 us for these 13 fields; a named tuple is built in ~1 us).
    """

    method: str
    host: str
    path: str
    source_ip: IPAddress
    now: datetime
    route_id: str | None = None
    subject: str | None = None
    issuer: str | None = None
    token_id: str | None = None
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = MappingProxyType({})  # shared default: read-only
    device: DeviceFacts = DeviceFacts()


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Days of the week (0 = Monday) and a [start, end) time of day in a time zone."""

    days: frozenset[int]
    start: time
    end: time
    zone: tzinfo


@dataclass(frozen=True, slots=True)
class DeviceRequirement:
    required: bool = False
    bound: bool = False  # the token's subject must be one of the device's owners
    enrolled: bool = False
    disk_encrypted: bool = False
    min_os_patch_level: str | None = None
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. Every condition that is set must hold for the rule to apply.

    Unset conditions match anything, except identity: an ``allow`` rule needs an authenticated
    subject unless ``anonymous`` is true.
    """

    id: str
    effect: Effect
    description: str = ""
    routes: frozenset[str] | None = None
    hosts: tuple[re.Pattern[str], ...] | None = None
    methods: frozenset[str] | None = None
    paths: tuple[re.Pattern[str], ...] | None = None
    anonymous: bool = False
    subjects: frozenset[str] | None = None
    issuers: frozenset[str] | None = None
    groups: frozenset[str] | None = None
    roles: frozenset[str] | None = None
    claims: tuple[tuple[str, frozenset[str]], ...] = ()
    device: DeviceRequirement | None = None
    networks: tuple[IPNetwork, ...] | None = None
    time: TimeWindow | None = None
    location: str | None = None  # file:line, for messages


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy: rules in file order. Deny rules take precedence over allow rules."""

    rules: tuple[Rule, ...]
    version: int = 1
    source: str | None = None
    digest: str | None = None  # SHA-256 of the file, reported on reload
    # Paths match case-insensitively unless the file says otherwise; the router follows the
    # same setting, so a route prefix and a rule path never disagree about case.
    case_sensitive_paths: bool = False
    evaluation_order: tuple[Rule, ...] = field(init=False, repr=False, compare=False)
    # The decision each rule of ``evaluation_order`` gives when it applies (no trace): built
    # once, shared by every request (decisions are immutable).
    outcomes: tuple[Decision, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Deny rules first (they override allows), each effect in file order.
        denies = tuple(r for r in self.rules if r.effect is Effect.DENY)
        allows = tuple(r for r in self.rules if r.effect is Effect.ALLOW)
        object.__setattr__(self, "evaluation_order", denies + allows)
        object.__setattr__(self, "outcomes", tuple(_outcome(r) for r in denies + allows))

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of the decision point. ``rule_id`` names the rule (or builtin) that decided.

    ``status`` is the HTTP status a denial maps to (401 when authenticating, or authenticating
    more strongly, could change the answer; 403 otherwise; 200 for an allow).
    """

    allowed: bool
    rule_id: str
    reason: str
    status: int = 200
    trace: tuple[str, ...] = ()

    @classmethod
    def deny(cls, rule_id: str, reason: str, status: int = 403) -> Decision:
        return cls(False, rule_id, reason, status)


def _outcome(rule: Rule) -> Decision:
    """The decision ``rule`` gives when it applies (see ``gateway.policy.evaluate``)."""
    if rule.effect is Effect.DENY:
        return Decision(False, rule.id, rule.description or f"denied by rule {rule.id}", 403)
    return Decision(True, rule.id, rule.description or f"allowed by rule {rule.id}", 200)
