"""Authenticated atomic records: tamper, move and rollback detection; one owner per store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto.service.master import SoftwareMasterKey, check
from crypto.service.records import RecordStore
from tulou.errors import ConfigError, VerificationError

MASTER = SoftwareMasterKey("test", bytes(range(32)), {})


def test_commit_load_and_generations(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, MASTER)
    first = store.commit("a/b.json", {"x": 1})
    second = store.commit("a/b.json", {**first, "x": 2})
    assert (first["generation"], second["generation"]) == (1, 2)
    assert store.load("a/b.json")["x"] == 2  # type: ignore[index]
    assert store.load("a/none.json") is None
    assert store.children("a") == ["b"]
    with pytest.raises(FileExistsError):
        store.create("a/b.json", {})
    store.close()


def test_edited_moved_or_rolled_back_records_are_refused(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, MASTER)
    old = store.commit("k/one.json", {"secret_ref": "v1"})
    store.commit("k/one.json", {**old, "secret_ref": "v2"})
    path = tmp_path / "k" / "one.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "secret_ref": "v3"}))
    with pytest.raises(VerificationError):
        store.load("k/one.json")
    (tmp_path / "k" / "two.json").write_text(json.dumps(record))  # the same bytes, another name
    with pytest.raises(VerificationError):
        store.load("k/two.json")
    store.close()


def test_one_process_per_store_and_leftovers_removed(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, MASTER)
    with pytest.raises(ConfigError, match="in use"):
        RecordStore(tmp_path, MASTER)
    store.close()
    (tmp_path / ".x.json.abc.tmp").write_text("half")
    RecordStore(tmp_path, MASTER).close()
    assert not (tmp_path / ".x.json.abc.tmp").exists()


def test_master_check_refuses_another_master() -> None:
    described = MASTER.describe()
    check(MASTER, described)
    with pytest.raises(VerificationError):
        check(SoftwareMasterKey("test", bytes(32), {}), described)
    assert "hidden" in repr(MASTER) and "00010203" not in repr(MASTER)
