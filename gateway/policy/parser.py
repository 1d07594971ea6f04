"""Parse a policy file (YAML) into a :class:`~gateway.policy.model.Policy`.

The whole file is checked and every problem is collected with its ``file:line`` before one
:class:`~tulou.errors.ConfigError` is raised: a broken file never yields a partial policy.
Unknown keys are errors, not warnings: a misspelt condition (``method:`` for ``methods:``) would
otherwise silently widen the rule it belongs to. The language is documented in docs/gateway.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from gateway.policy.model import DeviceRequirement, Effect, Policy, Rule, TimeWindow
from gateway.policy.paths import compile_host_glob, compile_path_glob
from tulou.errors import ConfigError

_RULE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_TOP_KEYS = {"version", "case_sensitive_paths", "rules"}
_RULE_KEYS = {
    "id",
    "effect",
    "description",
    "routes",
    "hosts",
    "methods",
    "paths",
    "anonymous",
    "subjects",
    "issuers",
    "groups",
    "roles",
    "claims",
    "device",
    "networks",
    "time",
}
_DEVICE_KEYS = {"required", "bound", "enrolled", "disk_encrypted", "min_os_patch_level", "fresh"}
_TIME_KEYS = {"days", "start", "end", "timezone"}
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, line: int | None, message: str) -> None:
        where = f"{self.source}:{line}" if line is not None else self.source
        self.items.append(f"{where}: {message}")


def _strings(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ValueError(f"{what} must be a non-empty string or list of strings")


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false")
    return value


def _clock(value: Any, what: str) -> time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ValueError(f"{what} must be HH:MM")
    hour, minute = (int(x) for x in value.split(":"))
    if hour == 24 and minute == 0:
        return time.max
    return time(hour, minute)


def _device(value: Any) -> DeviceRequirement:
    if not isinstance(value, dict):
        raise ValueError("device must be a mapping")
    unknown = set(value) - _DEVICE_KEYS
    if unknown:
        raise ValueError(f"device: unknown keys {sorted(unknown)}")
    flags = {k: _bool(v, f"device.{k}") for k, v in value.items() if k != "min_os_patch_level"}
    patch = value.get("min_os_patch_level")
    if patch is not None and not isinstance(patch, str):
        raise ValueError("device.min_os_patch_level must be a string like 2025-06")
    # Any posture condition implies a device; saying so explicitly is not required.
    conditions = set(value) - {"required"}
    if conditions and flags.get("required") is False:
        raise ValueError(f"device: required: false contradicts {sorted(conditions)}")
    return DeviceRequirement(
        required=flags.get("required", bool(conditions)),
        bound=flags.get("bound", False),
        enrolled=flags.get("enrolled", False),
        disk_encrypted=flags.get("disk_encrypted", False),
        min_os_patch_level=patch,
        fresh=flags.get("fresh", False),
    )


def _time_window(value: Any) -> TimeWindow:
    if not isinstance(value, dict):
        raise ValueError("time must be a mapping")
    unknown = set(value) - _TIME_KEYS
    if unknown:
        raise ValueError(f"time: unknown keys {sorted(unknown)}")
    days = {_DAYS.get(d.lower(), -1) for d in _strings(value.get("days", list(_DAYS)), "days")}
    if -1 in days:
        raise ValueError(f"time.days must be among {list(_DAYS)}")
    start = _clock(value.get("start", "00:00"), "time.start")
    end = _clock(value.get("end", "24:00"), "time.end")
    try:
        zone = ZoneInfo(str(value.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time.timezone {value.get('timezone')!r} is unknown") from None
    return TimeWindow(frozenset(days), start, end, zone)


def _claims(value: Any) -> tuple[tuple[str, frozenset[str]], ...]:
    if not isinstance(value, dict) or not value:
        raise ValueError("claims must be a non-empty mapping of claim -> accepted values")
    return tuple(
        (str(name), frozenset(_strings(accepted, f"claims.{name}")))
        for name, accepted in value.items()
    )


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(n, strict=True) for n in _strings(value, "networks"))
    except ValueError as exc:
        raise ValueError(f"networks: {exc}") from None


def _methods(value: Any) -> frozenset[str]:
    methods = {m.upper() for m in _strings(value, "methods")}
    bad = methods - _METHODS
    if bad:
        raise ValueError(f"methods: unknown {sorted(bad)}")
    return frozenset(methods)


def _rule(raw: Any, line: int | None, case_sensitive: bool, problems: _Problems) -> Rule | None:
    if not isinstance(raw, dict):
        problems.add(line, "a rule must be a mapping")
        return None
    before = len(problems.items)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        problems.add(line, f"unknown keys {sorted(unknown)}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        problems.add(line, "id must match [a-z0-9][a-z0-9._-]* (and not start with 'builtin')")
        rule_id = "?"
    try:
        effect = Effect(str(raw.get("effect")))
    except ValueError:
        problems.add(line, f"rule {rule_id}: effect must be 'allow' or 'deny'")
        effect = Effect.DENY
    fields: dict[str, Any] = {}
    converters: dict[str, Callable[[Any], Any]] = {
        "description": str,
        "routes": lambda v: frozenset(_strings(v, "routes")),
        "hosts": lambda v: tuple(compile_host_glob(h) for h in _strings(v, "hosts")),
        "methods": _methods,
        "paths": lambda v: tuple(
            compile_path_glob(p, case_sensitive=case_sensitive) for p in _strings(v, "paths")
        ),
        "anonymous": lambda v: _bool(v, "anonymous"),
        "subjects": lambda v: frozenset(_strings(v, "subjects")),
        "issuers": lambda v: frozenset(_strings(v, "issuers")),
        "groups": lambda v: frozenset(_strings(v, "groups")),
        "roles": lambda v: frozenset(_strings(v, "roles")),
        "claims": _claims,
        "device": _device,
        "networks": _networks,
        "time": _time_window,
    }
    for key, convert in converters.items():
        if key in raw:
            try:
                fields[key] = convert(raw[key])
            except ValueError as exc:
                problems.add(line, f"rule {rule_id}: {exc}")
    if fields.get("anonymous") and effect is Effect.ALLOW:
        identity = {"subjects", "issuers", "groups", "roles", "claims"} & set(fields)
        if identity:
            problems.add(line, f"rule {rule_id}: anonymous contradicts {sorted(identity)}")
    if len(problems.items) > before:
        return None
    location = f"{problems.source}:{line}" if line is not None else problems.source
    return Rule(id=rule_id, effect=effect, location=location, **fields)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse policy text. Raises :class:`ConfigError` listing every problem with its line."""
    problems = _Problems(source)
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.add(mark.line + 1 if mark else None, f"not valid YAML: {exc}")
        raise ConfigError("; ".join(problems.items)) from None
    if not isinstance(data, dict) or root is None:
        raise ConfigError(f"{source}: a policy must be a mapping with 'version' and 'rules'")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        problems.add(1, f"unknown top-level keys {sorted(unknown)}")
    if data.get("version") != 1:
        problems.add(1, "version must be 1")
    case_sensitive = data.get("case_sensitive_paths", False)
    if not isinstance(case_sensitive, bool):
        problems.add(1, "case_sensitive_paths must be true or false")
        case_sensitive = False
    raw_rules = data.get("rules")
    rule_nodes: list[Any] = []
    for key_node, value_node in root.value:
        if getattr(key_node, "value", None) == "rules" and isinstance(
            value_node, yaml.SequenceNode
        ):
            rule_nodes = value_node.value
    if not isinstance(raw_rules, list):
        problems.add(1, "rules must be a list (it may be empty: then everything is denied)")
        raw_rules = []
    rules: list[Rule] = []
    seen: dict[str, int | None] = {}
    for index, raw in enumerate(raw_rules):
        line = rule_nodes[index].start_mark.line + 1 if index < len(rule_nodes) else None
        rule = _rule(raw, line, case_sensitive, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.add(line, f"duplicate rule id {rule.id!r} (first at line {seen[rule.id]})")
        seen[rule.id] = line
        rules.append(rule)
    if problems.items:
        raise ConfigError("; ".join(problems.items))
    return Policy(
        rules=tuple(rules),
        source=source,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        case_sensitive_paths=case_sensitive,
    )


def load_policy(path: Path) -> Policy:
    """Read and parse a policy file. Raises :class:`ConfigError` (unreadable or invalid)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read policy: {exc}", location=str(path)) from None
    return parse_policy(text, source=str(path))
