"""Gateway evidence, read from the gateway's files (the SOC never imports the gateway's code).

Inputs: the gateway config (YAML: ``routes``, ``policy``, ``audit``), the policy file it names,
and the audit log (ECS JSON lines, one per access decision, docs/gateway.md). Evidence:

- ``gateway.coverage``  applications of the inventory served by a gateway route / all of them
- ``gateway.mtls``      share of routes whose allowed requests all presented a client certificate
                        (``tls.client.hash.sha256``), and the same share over requests
- ``gateway.decisions`` decisions in the period: total, allowed, denied, deny rate, allowed
                        without an authenticated subject, whether the policy denies by default
- ``gateway.policy``    SM3 digest of the policy in force; policy changes recorded in the period
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from compliance.evidence import Evidence, Excerpt, excerpt, file_sm3
from compliance.i18n import _
from compliance.period import Period
from compliance.sources import Sources
from crypto.sm3 import sm3
from tulou.contracts.routes import RouteSpec, RouteTable
from tulou.errors import ConfigError
from tulou.events import parse_timestamp

KEYS = ("gateway.coverage", "gateway.mtls", "gateway.decisions", "gateway.policy")
_CONDITIONS = {
    "routes",
    "hosts",
    "methods",
    "paths",
    "subjects",
    "issuers",
    "groups",
    "roles",
    "claims",
    "device",
    "networks",
    "time",
}


class GatewayCollector:
    id: str = "gateway"
    keys: tuple[str, ...] = KEYS

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def _config(self) -> tuple[dict[str, Any], Path]:
        path = self.sources.gateway.config
        if path is None:
            raise FileNotFoundError(_("no gateway config (sources: gateway.config)"))
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
            raise ValueError(_("{name}: not a gateway config (no routes)").format(name=path.name))
        return data, path

    def collect(self, period: Period) -> list[Evidence]:
        try:
            config, path = self._config()
        except (OSError, ValueError, yaml.YAMLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)  # never a path of this machine
            return [Evidence.unavailable(k, self.id, reason) for k in KEYS]
        base = path.parent
        routes = [r for r in config["routes"] if isinstance(r, dict)]
        audit_files = list(self.sources.gateway.audit)
        if not audit_files and config.get("audit"):
            audit_files = [base / str(config["audit"])]
        decisions, changes, audit_problem = self._read_audit(audit_files, period)
        out = [self._coverage(routes, path)]
        if audit_problem:
            out += [
                Evidence.unavailable("gateway.mtls", self.id, audit_problem),
                Evidence.unavailable("gateway.decisions", self.id, audit_problem),
            ]
        else:
            out += [
                self._mtls(routes, decisions, audit_files),
                self._decisions(config, base, decisions, audit_files),
            ]
        out.append(self._policy(config, base, changes, audit_files))
        return out

    def _read_audit(
        self, files: list[Path], period: Period
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        if not files:
            return [], [], _("no gateway audit log configured")
        decisions: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for file in files:
            try:
                handle = file.open(encoding="utf-8")
            except OSError as exc:
                return (
                    [],
                    [],
                    _("cannot read the audit log {name}: {problem}").format(
                        name=file.name, problem=exc.strerror
                    ),
                )
            with handle:
                for number, line in enumerate(handle, 1):
                    try:
                        event = json.loads(line)
                        moment = parse_timestamp(event["@timestamp"])
                    except (ValueError, KeyError, TypeError):
                        continue  # detect dead-letters bad lines; the report counts good ones
                    if not period.contains(moment):
                        continue
                    event["_line"] = (file.name, number, line.rstrip("\n"))
                    action = str(event.get("event.action", ""))
                    if action == "gateway-decision":
                        decisions.append(event)
                    elif "policy" in action or "reload" in action:
                        changes.append(event)
        return decisions, changes, ""

    def _coverage(self, routes: list[dict[str, Any]], path: Path) -> Evidence:
        apps = self.sources.applications
        if not apps:
            return Evidence.unavailable(
                "gateway.coverage",
                self.id,
                _("no application inventory to measure against (sources: applications)"),
            )
        try:
            table = RouteTable(
                RouteSpec(str(r.get("id", "")), str(r.get("host", "")), str(r.get("prefix", "/")))
                for r in routes
            )
        except ConfigError as exc:
            return Evidence.unavailable("gateway.coverage", self.id, f"{path.name}: {exc.message}")
        # The gateway's own matcher: an app counts as behind the gateway when a route serves it.
        behind = [a for a in apps if table.serving(a.host)]
        missing = sorted(a.name for a in apps if a not in behind)
        return Evidence(
            "gateway.coverage",
            self.id,
            "Applications behind the gateway",
            {
                "share": len(behind) / len(apps),
                "numerator": len(behind),
                "denominator": len(apps),
                "missing": missing,
                "routes": len(routes),
            },
            (
                excerpt(
                    _("routes in the gateway config"),
                    path.name,
                    yaml.safe_dump(
                        [{k: r.get(k) for k in ("id", "host", "prefix")} for r in routes],
                        allow_unicode=True,
                        sort_keys=False,
                    ),
                    source_sm3=file_sm3(path),
                ),
            ),
        )

    def _mtls(
        self, routes: list[dict[str, Any]], decisions: list[dict[str, Any]], files: list[Path]
    ) -> Evidence:
        allowed = [d for d in decisions if d.get("event.outcome") == "success"]
        with_cert = [d for d in allowed if d.get("tls.client.hash.sha256")]
        per_route: dict[str, list[bool]] = {}
        for d in allowed:
            per_route.setdefault(str(d.get("service.target.name", "?")), []).append(
                bool(d.get("tls.client.hash.sha256"))
            )
        route_ids = [str(r.get("id")) for r in routes]
        # A route with no traffic in the period proves nothing either way: it does not count.
        seen = [r for r in route_ids if r in per_route]
        strict = [r for r in seen if all(per_route[r])]
        facts = {
            "route_share": len(strict) / len(seen) if seen else None,
            "numerator": len(strict),
            "denominator": len(seen),
            "routes_without_traffic": sorted(set(route_ids) - set(seen)),
            "routes_without_client_cert": sorted(set(seen) - set(strict)),
            "request_share": len(with_cert) / len(allowed) if allowed else None,
            "allowed_requests": len(allowed),
        }
        without = [d for d in allowed if not d.get("tls.client.hash.sha256")]
        shown = _lines(files, without[:10] or allowed[:3], _("allowed request"))
        return Evidence("gateway.mtls", self.id, "Mutual TLS (client certificates)", facts, shown)

    def _decisions(
        self, config: dict[str, Any], base: Path, decisions: list[dict[str, Any]], files: list[Path]
    ) -> Evidence:
        outcomes = Counter(d.get("event.outcome") for d in decisions)
        allowed, denied = outcomes.get("success", 0), outcomes.get("failure", 0)
        unauth = [
            d for d in decisions if d.get("event.outcome") == "success" and not d.get("user.name")
        ]
        reasons = Counter(
            str(d.get("rule.id")) for d in decisions if d.get("event.outcome") == "failure"
        )
        facts = {
            "total": len(decisions),
            "allowed": allowed,
            "denied": denied,
            "deny_rate": denied / len(decisions) if decisions else None,
            "unauthenticated_allowed": len(unauth),
            "default_deny": self._default_deny(config, base),
            "denied_by_rule": dict(reasons.most_common(10)),
        }
        shown = _lines(files, unauth[:20], _("allowed without an authenticated subject"))
        if not shown:
            shown = _lines(files, decisions[:3], _("access decision"))
        return Evidence("gateway.decisions", self.id, "Access decisions", facts, shown)

    @staticmethod
    def _default_deny(config: dict[str, Any], base: Path) -> bool | None:
        """The engine denies what no rule allows; an unconditioned anonymous allow undoes that."""
        policy = config.get("policy")
        if not policy:
            return None
        try:
            data = yaml.safe_load((base / str(policy)).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return None
        for rule in (data or {}).get("rules") or []:
            if (
                isinstance(rule, dict)
                and rule.get("effect") == "allow"
                and rule.get("anonymous") is True
                and not _CONDITIONS & set(rule)
            ):
                return False
        return True

    def _policy(
        self, config: dict[str, Any], base: Path, changes: list[dict[str, Any]], files: list[Path]
    ) -> Evidence:
        policy = base / str(config.get("policy", ""))
        try:
            digest: str | None = sm3(policy.read_bytes()).hex()
        except OSError:
            digest = None
        attributed = all(c.get("user.name") for c in changes) if changes else None
        hashed = digest is not None and all(
            c.get("file.hash.sm3") or c.get("tulou.policy.sm3") for c in changes
        )
        facts = {
            "policy_file": policy.name,
            "policy_sm3": digest,
            "changes": len(changes),
            "changes_attributed": attributed,
            "changes_hashed": hashed,
        }
        shown: tuple[Excerpt, ...] = ()
        if digest is not None:
            text = policy.read_text(encoding="utf-8", errors="replace")
            shown = (excerpt(_("policy in force"), policy.name, text, source_sm3=file_sm3(policy)),)
        shown += _lines(files, changes[:20], _("policy change"))
        return Evidence("gateway.policy", self.id, "Gateway policy and its changes", facts, shown)


def _lines(files: list[Path], events: list[dict[str, Any]], label: str) -> tuple[Excerpt, ...]:
    """The audit lines behind ``events``, each with the SM3 of its audit file."""
    digests = {f.name: file_sm3(f) for f in files}
    shown = []
    for event in events:
        name, number, text = event["_line"]
        shown.append(
            excerpt(
                label,
                name,
                text,
                locator=_("line {n}").format(n=number),
                source_sm3=digests.get(name, ""),
            )
        )
    return tuple(shown)
