"""The revocation list: token ids, subjects and device certificates that must be refused.

File format (YAML), every list optional::

    tokens:   [jti, ...]                    # revoked token ids
    subjects: [mallory, ...]                # every token of these subjects
    devices:  [sha256-fingerprint-hex, ...] # device certificates (in addition to the CRL)
    addresses: [192.0.2.7, ...]             # source addresses blocked outright

The same four kinds arrive from the shared state (``gateway.store``: revocations and the
response blocks the SOC pushes, some with a time to live); the gateway enforces the union.

The gateway reloads it while running and closes live connections (HTTP/1 keep-alive, HTTP/2,
WebSocket) whose subject, token or device has just been revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from gateway.store import Snapshot
from tulou.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Revocations:
    tokens: frozenset[str] = frozenset()
    subjects: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    def union(self, other: Revocations) -> Revocations:
        return Revocations(
            self.tokens | other.tokens,
            self.subjects | other.subjects,
            self.devices | other.devices,
            self.addresses | other.addresses,
        )

    def reason(
        self, *, token_id: str | None, subject: str | None, device: str | None
    ) -> str | None:
        """Why this combination is revoked, or None."""
        if token_id is not None and token_id in self.tokens:
            return "token revoked"
        if subject is not None and subject in self.subjects:
            return "subject revoked"
        if device is not None and device in self.devices:
            return "device revoked"
        return None


def load_revocations(path: Path) -> Revocations:
    """Read the revocation list. Raises :class:`ConfigError` (keeps nothing half-read)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read revocations: {exc}", location=str(path)) from None
    if not isinstance(data, dict) or set(data) - {"tokens", "subjects", "devices", "addresses"}:
        raise ConfigError(
            "must be a mapping of tokens/subjects/devices/addresses", location=str(path)
        )
    lists: dict[str, frozenset[str]] = {}
    for key in ("tokens", "subjects", "devices", "addresses"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{key} must be a list of strings", location=str(path))
        lists[key] = frozenset(v.lower() if key == "devices" else v for v in value)
    return Revocations(**lists)


def as_revocations(snapshot: Snapshot, moment: float) -> Revocations:
    """The values of ``snapshot`` in force at ``moment`` (epoch seconds)."""
    return Revocations(
        tokens=snapshot.values("tokens", moment),
        subjects=snapshot.values("subjects", moment),
        devices=frozenset(v.lower() for v in snapshot.values("devices", moment)),
        addresses=snapshot.values("addresses", moment),
    )
