"""Device inventory: owners and posture by fingerprint; freshness decided at each lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gateway.inventory import Inventory, InventoryEntry, load_inventory
from gateway.policy import DevicePosture
from tulou.errors import ConfigError

CHECKIN = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
FRESHNESS = 3600.0
FP = "ab" * 32


def write(tmp_path: Path, devices: list[dict[str, object]]) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"devices": devices}))
    return path


@pytest.fixture
def inventory_file(tmp_path: Path) -> Path:
    entry = {
        "fingerprint": FP.upper(),
        "device_id": "laptop-1",
        "owners": ["alice"],
        "enrolled": True,
        "os_patch_level": "2025-05",
        "disk_encrypted": True,
        "last_checkin": CHECKIN.isoformat(),
    }
    return write(tmp_path, [entry, {"fingerprint": "cd" * 32}])


LAPTOP = InventoryEntry(FP, "laptop-1", frozenset({"alice"}), True, "2025-05", True, CHECKIN)


@given(st.floats(min_value=-7200, max_value=7200, allow_nan=False))
def test_posture_is_fresh_exactly_within_the_window(offset: float) -> None:
    inventory = Inventory({FP: LAPTOP}, FRESHNESS)
    now = CHECKIN + timedelta(seconds=offset)
    owners, posture = inventory.lookup(FP.upper(), now)
    fresh = 0 <= (now - CHECKIN).total_seconds() <= FRESHNESS
    assert owners == frozenset({"alice"})
    assert posture == DevicePosture(True, "2025-05", True, CHECKIN, fresh)


def test_a_device_goes_stale_as_time_passes_and_unknown_devices_have_no_posture(
    inventory_file: Path,
) -> None:
    inventory = load_inventory(inventory_file, FRESHNESS)
    moments = [CHECKIN, CHECKIN + timedelta(seconds=FRESHNESS), CHECKIN + timedelta(hours=2)]
    freshness = [inventory.lookup(FP, moment)[1] for moment in moments]
    assert [p.fresh if p else None for p in freshness] == [True, True, False]
    assert inventory.lookup(FP, CHECKIN - timedelta(seconds=1))[1] == DevicePosture(
        True, "2025-05", True, CHECKIN, False
    )  # a check-in in the future is not fresh
    never = inventory.lookup("cd" * 32, CHECKIN)[1]
    assert never == DevicePosture(False, None, False, None, False)
    assert inventory.lookup("ef" * 32, CHECKIN) == (frozenset(), None)


def test_broken_entries_are_refused_with_their_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"devices\[0\]"):
        load_inventory(write(tmp_path, [{"fingerprint": "xyz"}]), FRESHNESS)
