"""Evaluate a policy against the facts of one request.

Precedence (documented in docs/gateway.md):

1. A ``deny`` rule whose conditions all hold denies (403). The first such rule in file order is
   the one reported. Deny always overrides allow.
2. Otherwise an ``allow`` rule whose conditions all hold allows; the first such rule in file
   order is reported.
3. Otherwise the request is denied by ``builtin:default-deny``. Its reason names the first allow
   rule whose target (route, host, method, path) matched and the condition that failed; the
   status is 401 when authenticating (or authenticating more strongly: ``acr``/``amr``) could
   change the answer, 403 otherwise.

Pure and fast: no I/O, no allocation beyond the decision on the hot path (``explain=False``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from typing import Any

from gateway.policy.model import (
    BUILTIN_DEFAULT_DENY,
    Decision,
    DeviceFacts,
    DeviceRequirement,
    Effect,
    Policy,
    RequestFacts,
    Rule,
    TimeWindow,
)

_STEP_UP_CLAIMS = frozenset({"acr", "amr"})
#: Failure kinds: target means "rule does not concern this request"; auth means a 401 may help.
_TARGET, _AUTH, _OTHER = "target", "auth", "other"


def _claim_values(value: Any) -> set[str]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return {str(v) for v in value}
    if value is None:
        return set()
    if isinstance(value, bool):
        return {"true" if value else "false"}
    return {str(value)}


def _check_target(rule: Rule, facts: RequestFacts) -> str | None:
    if rule.routes is not None and facts.route_id not in rule.routes:
        return "route not listed"
    if rule.hosts is not None and not any(p.fullmatch(facts.host) for p in rule.hosts):
        return "host not listed"
    if rule.methods is not None and facts.method not in rule.methods:
        return f"method {facts.method} not listed"
    if rule.paths is not None and not any(p.fullmatch(facts.path) for p in rule.paths):
        return "path not listed"
    return None


def _check_device(need: DeviceRequirement, device: DeviceFacts, subject: str | None) -> str | None:
    if not need.required:
        return None
    if not (device.present and device.verified):
        return "a verified device certificate is required"
    if need.bound and (subject is None or subject not in device.owners):
        return "the device is not bound to this subject"
    wants_posture = (
        need.enrolled or need.disk_encrypted or need.fresh or need.min_os_patch_level is not None
    )
    posture = device.posture
    if not wants_posture:
        return None
    if posture is None:
        return "the device is not in the inventory"
    if need.enrolled and not posture.enrolled:
        return "the device is not enrolled"
    if need.disk_encrypted and not posture.disk_encrypted:
        return "the device disk is not encrypted"
    if need.min_os_patch_level is not None and (
        posture.os_patch_level is None or posture.os_patch_level < need.min_os_patch_level
    ):
        return f"the device OS patch level is below {need.min_os_patch_level}"
    if need.fresh and not posture.fresh:
        return "the device posture is stale (last check-in too old)"
    return None


def _in_window(window: TimeWindow, facts: RequestFacts) -> bool:
    local = facts.now.astimezone(window.zone)
    if local.weekday() not in window.days:
        return False
    moment = local.time().replace(tzinfo=None)
    if window.end == time.max:
        return moment >= window.start
    if window.start <= window.end:
        return window.start <= moment < window.end
    return moment >= window.start or moment < window.end  # wraps midnight


def _check_conditions(rule: Rule, facts: RequestFacts) -> tuple[str, str] | None:
    """None when every non-target condition holds, else (kind, what failed)."""
    if facts.subject is None:
        if rule.effect is Effect.ALLOW and not rule.anonymous:
            return _AUTH, "authentication required"
        if rule.subjects or rule.issuers or rule.groups or rule.roles or rule.claims:
            return _AUTH, "authentication required"
    elif rule.anonymous and rule.effect is Effect.DENY:
        return _OTHER, "rule applies to anonymous requests only"
    if rule.subjects is not None and facts.subject not in rule.subjects:
        return _OTHER, "subject not listed"
    if rule.issuers is not None and facts.issuer not in rule.issuers:
        return _OTHER, "issuer not listed"
    if rule.groups is not None and not (rule.groups & facts.groups):
        return _OTHER, f"not in any group of {sorted(rule.groups)}"
    if rule.roles is not None and not (rule.roles & facts.roles):
        return _OTHER, f"no role of {sorted(rule.roles)}"
    for name, accepted in rule.claims:
        if not (_claim_values(facts.claims.get(name)) & accepted):
            kind = _AUTH if name in _STEP_UP_CLAIMS else _OTHER
            return kind, f"claim {name} not in {sorted(accepted)}"
    if rule.device is not None:
        problem = _check_device(rule.device, facts.device, facts.subject)
        if problem:
            return _OTHER, problem
    if rule.networks is not None and not any(facts.source_ip in n for n in rule.networks):
        return _OTHER, f"source {facts.source_ip} not in the listed networks"
    if rule.time is not None and not _in_window(rule.time, facts):
        return _OTHER, "outside the allowed time window"
    return None


def check_rule(rule: Rule, facts: RequestFacts) -> tuple[str, str] | None:
    """None when the rule applies to the request, else (kind, reason) of the first failure."""
    target = _check_target(rule, facts)
    if target is not None:
        return _TARGET, target
    return _check_conditions(rule, facts)


def evaluate(policy: Policy, facts: RequestFacts, *, explain: bool = False) -> Decision:
    """Decide one request. See the module docstring for precedence."""
    trace: list[str] = []
    near_miss: tuple[Rule, str, str] | None = None
    for rule, outcome in zip(policy.evaluation_order, policy.outcomes, strict=True):
        failure = check_rule(rule, facts)
        if explain:
            verdict = "applies" if failure is None else f"skipped: {failure[1]}"
            trace.append(f"{rule.id} ({rule.effect.value}): {verdict}")
        if failure is None:
            # The rule's own decision (denies: 403, allows: 200), shared; with its trace if asked.
            return replace(outcome, trace=tuple(trace)) if explain else outcome
        if rule.effect is Effect.ALLOW and failure[0] != _TARGET and near_miss is None:
            near_miss = (rule, failure[0], failure[1])
    if near_miss is not None:
        rule, kind, what = near_miss
        status = 401 if kind == _AUTH else 403
        return Decision(
            False, BUILTIN_DEFAULT_DENY, f"rule {rule.id}: {what}", status, tuple(trace)
        )
    return Decision(False, BUILTIN_DEFAULT_DENY, "no rule allows this request", 403, tuple(trace))
