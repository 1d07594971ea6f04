"""Addon: ask the policy decision point (option ``tulou_policy`` names the policy file).

Builds :class:`~gateway.policy.RequestFacts` from the request state, evaluates, and denies with
the decision's status; an allow is recorded for the audit. The policy is hot-reloaded with
validation: a broken file raises ``OptionsError`` (mitmproxy rolls the option back) and the
last good policy stays in force; the reason is logged and counted.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from pathlib import Path

from mitmproxy import http
from mitmproxy.addonmanager import Loader

from gateway.addons._common import deny, options_error, state_of
from gateway.policy import BUILTIN_DEFAULT_DENY, Decision, DeviceFacts, RequestFacts, evaluate
from gateway.policy import load_policy as parse_policy_file
from gateway.state import Runtime
from tulou.errors import ConfigError

log = logging.getLogger(__name__)


class PolicyEnforcer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Parsed client addresses by their text (parsing costs more than the lookup); bounded.
        self.addresses: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}

    def address(self, text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """``ipaddress.ip_address`` of a peer address (zone id dropped), memoised."""
        found = self.addresses.get(text)
        if found is None:
            if len(self.addresses) >= 65_536:
                self.addresses.clear()
            found = self.addresses[text] = ipaddress.ip_address(text.partition("%")[0])
        return found

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "tulou_policy",
            str,
            "",
            "The access policy (YAML, docs/gateway.md). Re-read when it changes; a broken "
            "file is refused with its reason and the last good policy stays in force.",
        )

    def configure(self, updated: set[str]) -> None:
        if "tulou_policy" not in updated:
            return
        from mitmproxy import ctx  # noqa: PLC0415

        try:
            if not ctx.options.tulou_policy:
                raise ConfigError("tulou_policy is not set")
            policy = parse_policy_file(Path(ctx.options.tulou_policy))
        except ConfigError as exc:
            self.runtime.metrics.inc(
                "tulou_gateway_reloads_total", "Hot reloads.", file="policy", result="failed"
            )
            kept = (self.runtime.policy.digest or "")[:12] if self.runtime.policy else "none"
            log.error("policy refused, keeping the last good one (%s): %s", kept, exc)
            raise options_error(f"policy not loaded: {exc}") from None
        self.runtime.policy = policy
        self.runtime.reloaded()
        self.runtime.metrics.inc(
            "tulou_gateway_reloads_total", "Hot reloads.", file="policy", result="ok"
        )
        log.info("policy loaded: %d rules, sha256 %s", len(policy.rules), policy.digest)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.done:
            return
        policy = self.runtime.policy
        if policy is None:
            deny(flow, state, Decision.deny(BUILTIN_DEFAULT_DENY, "no policy loaded", 403))
            return
        identity = state.identity
        device = state.device
        facts = RequestFacts(
            method=flow.request.method.upper(),
            host=state.host,
            path=state.path,
            source_ip=self.address(flow.client_conn.peername[0]),
            now=state.moment,
            route_id=state.route.id if state.route else None,
            subject=identity.subject if identity else None,
            issuer=identity.issuer if identity else None,
            token_id=identity.token_id if identity else None,
            groups=identity.groups if identity else frozenset(),
            roles=identity.roles if identity else frozenset(),
            claims=identity.claims if identity else {},
            device=DeviceFacts(
                present=state.device_present,
                verified=device is not None,
                fingerprint=device.fingerprint if device else None,
                device_id=device.device_id if device else None,
                owners=state.owners,
                posture=state.posture,
            ),
        )
        start = time.perf_counter_ns()
        decision = evaluate(policy, facts)
        state.decision_ns = time.perf_counter_ns() - start
        self.runtime.metrics.observe(
            "tulou_gateway_decision_duration_seconds",
            "Policy evaluation time.",
            state.decision_ns / 1e9,
        )
        if decision.allowed:
            state.decision = decision
        else:
            deny(flow, state, decision)
