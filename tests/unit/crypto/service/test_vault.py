"""The vault's lifecycle rules on an injected clock (HTTP tests cover them over the wire)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.service.errors import ServiceError
from crypto.service.master import SoftwareMasterKey
from crypto.service.records import RecordStore
from crypto.service.vault import KeyPath, Vault

MASTER = SoftwareMasterKey("test", bytes(range(32)), {})
PATH = KeyPath("t", "r", "k")


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    now = [1_000_000.0]
    v = Vault(RecordStore(tmp_path, MASTER), MASTER, destruction_wait=3600, clock=lambda: now[0])
    v.now = now  # type: ignore[attr-defined]
    v.create_tenant("t", by="admin")
    v.create_ring("t", "r", by="admin")
    return v


def code(exc: pytest.ExceptionInfo[ServiceError]) -> str:
    return exc.value.code


def test_destruction_waits_for_approval_and_the_period(vault: Vault) -> None:
    vault.create_key(PATH, "sm4", by="admin")
    vault.rotate(PATH, by="admin")
    vault.request_destruction(PATH, 1, by="officer-a")
    with pytest.raises(ServiceError) as info:
        vault.approve_destruction(PATH, 1, by="officer-a")
    assert code(info) == "dual-control"
    vault.now[0] += 7200  # type: ignore[attr-defined]
    assert vault.destroy_due(PATH) == []  # waited, but not approved
    vault.approve_destruction(PATH, 1, by="officer-b")
    assert vault.destroy_due(PATH) == []  # approved: the waiting period starts now
    vault.now[0] += 3599  # type: ignore[attr-defined]
    assert vault.destroy_due(PATH) == []
    assert vault.key(PATH)["versions"][0]["state"] == "destroy-pending"
    vault.now[0] += 2  # type: ignore[attr-defined]
    assert vault.destroy_due(PATH) == [1]
    record = vault.key(PATH)
    assert record["versions"][0]["state"] == "destroyed"
    on_disk = vault._records.load(PATH.rel)
    assert on_disk is not None and on_disk["versions"][0]["wrapped"] is None
    assert on_disk["versions"][1]["wrapped"]  # the other version keeps its material
    with pytest.raises(ServiceError) as info:
        vault.material(PATH, "decrypt", 1)
    assert code(info) == "version-destroyed"


def test_scheduled_rotation_on_the_clock(vault: Vault) -> None:
    vault.create_key(PATH, "sm2", by="admin", rotation_period=60)
    assert vault.rotate_due() == []
    vault.now[0] += 61  # type: ignore[attr-defined]
    assert vault.rotate_due() == ["t/r/k@v2"]
    assert vault.rotate_due() == []  # next one in 60 s
    assert vault.key(PATH)["history"][-1]["by"] == "scheduler"


def test_material_rules(vault: Vault) -> None:
    vault.create_key(PATH, "sm4", by="admin")
    with pytest.raises(ServiceError) as info:
        vault.material(PATH, "sign")
    assert code(info) == "wrong-key-type"
    vault.rotate(PATH, by="admin")
    assert vault.material(PATH, "decrypt", 1).version == 1
    with pytest.raises(ServiceError) as info:
        vault.material(PATH, "encrypt", 1)  # encryption only with the primary
    assert code(info) == "bad-request"
    vault.update(PATH, by="admin", min_decrypt_version=2)
    with pytest.raises(ServiceError) as info:
        vault.material(PATH, "decrypt", 1)
    assert code(info) == "version-retired"
    with pytest.raises(ServiceError) as info:
        vault.material(PATH, "decrypt", 3)
    assert code(info) == "unknown-key"
    with pytest.raises(ServiceError) as info:
        vault.create_key(KeyPath("t", "nope", "k"), "sm4", by="admin")
    assert code(info) == "unknown-key"
