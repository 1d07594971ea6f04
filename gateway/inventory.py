"""The device inventory: who owns a device and its posture, with a freshness window.

File format (YAML)::

    devices:
      - fingerprint: 3f9a...        # SHA-256 of the device certificate (DER), hex
        device_id: laptop-0042      # informational
        owners: [alice]             # subjects this device is bound to
        enrolled: true
        os_patch_level: "2025-06"   # compared as a string: use YYYY-MM
        disk_encrypted: true
        last_checkin: 2025-06-01T10:00:00Z

Posture is *fresh* when ``last_checkin`` is within ``freshness`` seconds of the request time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gateway.policy import DevicePosture
from tulou.errors import ConfigError

_KEYS = {
    "fingerprint",
    "device_id",
    "owners",
    "enrolled",
    "os_patch_level",
    "disk_encrypted",
    "last_checkin",
}


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    fingerprint: str
    device_id: str | None
    owners: frozenset[str]
    enrolled: bool
    os_patch_level: str | None
    disk_encrypted: bool
    last_checkin: datetime | None


class Inventory:
    """Lookup by certificate fingerprint; immutable (reload builds a new one)."""

    def __init__(self, entries: dict[str, InventoryEntry], freshness: float) -> None:
        self.entries = entries
        self.freshness = freshness
        # The two postures each device can have (stale, fresh), built once: immutable, so
        # every request shares them; only ``fresh`` is decided per request.
        self._postures = {
            key: (_posture(entry, False), _posture(entry, True)) for key, entry in entries.items()
        }

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(
        self, fingerprint: str, now: datetime
    ) -> tuple[frozenset[str], DevicePosture | None]:
        """(owners, posture) of a device; (empty, None) when it is not in the inventory."""
        key = fingerprint.lower()
        entry = self.entries.get(key)
        if entry is None:
            return frozenset(), None
        fresh = (
            entry.last_checkin is not None
            and 0 <= (now - entry.last_checkin).total_seconds() <= self.freshness
        )
        return entry.owners, self._postures[key][fresh]


def _posture(entry: InventoryEntry, fresh: bool) -> DevicePosture:
    return DevicePosture(
        enrolled=entry.enrolled,
        os_patch_level=entry.os_patch_level,
        disk_encrypted=entry.disk_encrypted,
        last_checkin=entry.last_checkin,
        fresh=fresh,
    )


def _timestamp(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError("last_checkin is not ISO 8601", location=where) from None
    else:
        raise ConfigError("last_checkin is not a timestamp", location=where)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_inventory(path: Path, freshness: float) -> Inventory:
    """Read the inventory. Raises :class:`ConfigError` naming the bad entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read inventory: {exc}", location=str(path)) from None
    raw_devices = data.get("devices", []) if isinstance(data, dict) else None
    if not isinstance(raw_devices, list):
        raise ConfigError("must be a mapping with a 'devices' list", location=str(path))
    entries: dict[str, InventoryEntry] = {}
    for index, raw in enumerate(raw_devices):
        where = f"{path}: devices[{index}]"
        if not isinstance(raw, dict) or set(raw) - _KEYS:
            raise ConfigError(f"entry must be a mapping of {sorted(_KEYS)}", location=where)
        fingerprint = str(raw.get("fingerprint", "")).lower()
        if len(fingerprint) != 64 or not all(c in "0123456789abcdef" for c in fingerprint):
            raise ConfigError("fingerprint must be 64 hex digits (SHA-256)", location=where)
        if fingerprint in entries:
            raise ConfigError("duplicate fingerprint", location=where)
        owners = raw.get("owners", [])
        if not isinstance(owners, list) or not all(isinstance(o, str) for o in owners):
            raise ConfigError("owners must be a list of subjects", location=where)
        flags = {k: raw.get(k, False) for k in ("enrolled", "disk_encrypted")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise ConfigError("enrolled and disk_encrypted must be true or false", location=where)
        patch = raw.get("os_patch_level")
        entries[fingerprint] = InventoryEntry(
            fingerprint=fingerprint,
            device_id=str(raw["device_id"]) if raw.get("device_id") else None,
            owners=frozenset(owners),
            enrolled=flags["enrolled"],
            os_patch_level=str(patch) if patch is not None else None,
            disk_encrypted=flags["disk_encrypted"],
            last_checkin=_timestamp(raw.get("last_checkin"), where),
        )
    return Inventory(entries, freshness)
