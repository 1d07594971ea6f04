"""The report sources file: the one writer (write_sources) and the one reader (load_sources)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.sources import (
    Application,
    BackupSources,
    GatewaySources,
    KeyFile,
    Sources,
    SystemInfo,
    load_sources,
    write_sources,
    written_by_tulou,
)
from tulou.errors import ConfigError
from tulou.settings import Settings

_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var")


def test_what_is_written_is_read_back_the_same(tmp_path: Path) -> None:
    written = Sources(
        system=SystemInfo(name="某市数字政府平台", operator="某市大数据局"),
        applications=[Application(name="permits", host="permits.city.example")],
        gateway=GatewaySources(config=tmp_path / "gw" / "gateway.yaml", audit=[tmp_path / "a"]),
        rules=tmp_path / "rules",
        events="sqlite:///srv/events.db",
        retention_days=365,
        keys=[KeyFile(path=tmp_path / "k.pem", usage="signature", where="CA")],
        backup=BackupSources(sites=tmp_path / "s.json", drills=tmp_path / "d"),
    )
    path = write_sources(tmp_path / "var" / "reports" / "sources.yaml", written)
    assert path == _settings(tmp_path).path("reports", "sources.yaml")
    read = load_sources(_settings(tmp_path))  # the default place
    assert read == written.with_defaults(_settings(tmp_path))
    assert "某市大数据局" in path.read_text(encoding="utf-8")  # readable, not escaped


@settings(max_examples=40, deadline=None)
@given(name=_TEXT, operator=_TEXT, host=_TEXT, days=st.integers(0, 10_000))
def test_round_trip_of_any_names(
    tmp_path_factory: pytest.TempPathFactory, name: str, operator: str, host: str, days: int
) -> None:
    tmp = tmp_path_factory.mktemp("sources")
    written = Sources(
        system=SystemInfo(name=name, operator=operator),
        applications=[Application(name=name, host=host)],
        retention_days=days,
    )
    write_sources(tmp / "sources.yaml", written)
    read = load_sources(_settings(tmp), tmp / "sources.yaml")
    assert read.system == written.system
    assert read.applications == written.applications
    assert read.retention_days == written.retention_days


def test_a_hand_written_file_is_not_one_tulou_wrote(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    assert written_by_tulou(path)  # absent: may be written
    write_sources(path, Sources())
    assert written_by_tulou(path)
    path.write_text("system: {name: ours}\n", encoding="utf-8")
    assert not written_by_tulou(path)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_sources(tmp_path / "sources.yaml", Sources(retention_days=1))
    before = path.read_bytes()

    def broken(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="No space"):
        write_sources(path, Sources(retention_days=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sources.yaml"]


def test_an_unknown_field_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("gateway: {config: gw.yaml, audits: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gateway\.audits"):
        load_sources(_settings(tmp_path), path)
