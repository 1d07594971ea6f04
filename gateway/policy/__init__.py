"""The policy decision point: a pure policy model, parser and evaluator (imports no mitmproxy).

Public API::

    policy = load_policy(Path("policy.yaml"))      # or parse_policy(text, source)
    decision = evaluate(policy, RequestFacts(...))  # Decision(allowed, rule_id, reason, status)

Paths and hosts are canonicalised with :func:`canonical_path` / :func:`canonical_host` before
they become facts; ambiguous ones raise :class:`PathError`.
"""

from gateway.policy.evaluator import check_rule, evaluate
from gateway.policy.model import (
    BUILTIN_BAD_REQUEST,
    BUILTIN_BLOCKED,
    BUILTIN_DEFAULT_DENY,
    BUILTIN_DEVICE_INVALID,
    BUILTIN_ENDPOINT,
    BUILTIN_ENVELOPE_INVALID,
    BUILTIN_INTERNAL_ERROR,
    BUILTIN_INVALID_TOKEN,
    BUILTIN_NO_ROUTE,
    BUILTIN_PROTOCOL_ERROR,
    BUILTIN_RATE_LIMITED,
    BUILTIN_REVOKED,
    BUILTIN_STATE_UNAVAILABLE,
    BUILTIN_TIMEOUT,
    BUILTIN_TLS_REQUIRED,
    BUILTIN_TOO_LARGE,
    Decision,
    DeviceFacts,
    DevicePosture,
    Effect,
    Policy,
    RequestFacts,
    Rule,
)
from gateway.policy.parser import load_policy, parse_policy
from gateway.policy.paths import PathError, canonical_host, canonical_path, encode_path

__all__ = [
    "BUILTIN_BAD_REQUEST",
    "BUILTIN_BLOCKED",
    "BUILTIN_DEFAULT_DENY",
    "BUILTIN_DEVICE_INVALID",
    "BUILTIN_ENDPOINT",
    "BUILTIN_ENVELOPE_INVALID",
    "BUILTIN_INTERNAL_ERROR",
    "BUILTIN_INVALID_TOKEN",
    "BUILTIN_NO_ROUTE",
    "BUILTIN_PROTOCOL_ERROR",
    "BUILTIN_RATE_LIMITED",
    "BUILTIN_REVOKED",
    "BUILTIN_STATE_UNAVAILABLE",
    "BUILTIN_TIMEOUT",
    "BUILTIN_TLS_REQUIRED",
    "BUILTIN_TOO_LARGE",
    "Decision",
    "DeviceFacts",
    "DevicePosture",
    "Effect",
    "PathError",
    "Policy",
    "RequestFacts",
    "Rule",
    "canonical_host",
    "canonical_path",
    "check_rule",
    "encode_path",
    "evaluate",
    "load_policy",
    "parse_policy",
]
