"""The sources file and ``--timezone`` / ``--year``: zone-less syslog times read per source."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detect.sources import SourcesConfig, load_sources
from tulou.cli import main
from tulou.errors import ConfigError

LINE = b"Dec 31 23:30:00 web1 sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2\n"
LINE += b"Jan  1 00:30:00 web1 sshd[1]: Failed password for root from 203.0.113.9 port 2 ssh2\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TULOU_ES_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _stamps(capsys: pytest.CaptureFixture[str], store: str) -> list[str]:
    assert main(["--json", "detect", "search", "--store", store, "--limit", "10"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    return sorted(e["@timestamp"] for e in events)


def _log(folder: Path, name: str, written: datetime) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(LINE.replace(b"web1", path.parent.name.encode()))  # one host per file
    os.utime(path, (written.timestamp(), written.timestamp()))
    return path


def test_default_zone_and_a_year_inferred_over_new_year(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Last written on 1 January 2026: the December line is 2025's. Shanghai is UTC+8.
    _log(env, "auth.log", datetime(2026, 1, 1, 2, 0, tzinfo=UTC))
    store = f"sqlite://{env / 'a.db'}"
    assert main(["--json", "detect", "ingest", "auth.log", "--store", store]) == 0
    capsys.readouterr()
    assert _stamps(capsys, store) == ["2025-12-31T15:30:00.000Z", "2025-12-31T16:30:00.000Z"]


def test_command_line_zone_and_year(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log(env, "auth.log", datetime(2026, 1, 1, 2, 0, tzinfo=UTC))
    store = f"sqlite://{env / 'b.db'}"
    argv = ["--json", "detect", "ingest", "auth.log", "--store", store]
    assert main([*argv, "--timezone", "UTC", "--year", "2019"]) == 0
    capsys.readouterr()
    assert _stamps(capsys, store) == ["2019-01-01T00:30:00.000Z", "2019-12-31T23:30:00.000Z"]


def test_sources_file_rules_per_path(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    _log(env, "hk/auth.log", written)
    _log(env, "city/auth.log", written)
    (env / "sources.toml").write_text(
        'timezone = "Asia/Shanghai"\n\n[[source]]\npath = "*hk/*"\ntimezone = "UTC"\nyear = 2020\n'
    )
    store = f"sqlite://{env / 'c.db'}"
    argv = ["--json", "detect", "ingest", "hk", "city", "--store", store, "--sources"]
    assert main([*argv, "sources.toml"]) == 0
    capsys.readouterr()
    assert _stamps(capsys, store) == [
        "2020-01-01T00:30:00.000Z",  # hk: UTC, 2020
        "2020-12-31T23:30:00.000Z",
        "2025-12-31T15:30:00.000Z",  # city: Shanghai, inferred
        "2025-12-31T16:30:00.000Z",
    ]


def test_an_unknown_zone_is_a_config_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log(env, "auth.log", datetime(2026, 1, 1, tzinfo=UTC))
    code = main(["--json", "detect", "ingest", "auth.log", "--timezone", "Mars/Olympus"])
    assert code == 3
    assert "Mars/Olympus" in capsys.readouterr().out
    (env / "bad.toml").write_text('[[source]]\npath = "*"\nyear = 1800\n')
    code = main(["--json", "detect", "ingest", "auth.log", "--sources", "bad.toml"])
    assert code == 3
    assert "source.0.year" in capsys.readouterr().out


def test_first_matching_rule_wins_and_unset_keys_fall_back(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'timezone = "Asia/Tokyo"\nyear = 2021\n'
        '[[source]]\npath = "/logs/a*"\ntimezone = "UTC"\n'
        '[[source]]\npath = "/logs/*"\nyear = 2022\n'
    )
    config = load_sources(path)
    a = config.clock_for(Path("/logs/a.log"), 0.0)
    assert (a.zone, a.year) == ("UTC", 2021)
    b = config.clock_for(Path("/logs/b.log"), 0.0)
    assert (b.zone, b.year) == ("Asia/Tokyo", 2022)
    other = SourcesConfig().clock_for(Path("/x"), 123.0)
    assert (other.zone, other.year, other.reference) == ("Asia/Shanghai", None, 123.0)
    with pytest.raises(ConfigError, match="not valid TOML"):
        path.write_text("timezone = \n")
        load_sources(path)
