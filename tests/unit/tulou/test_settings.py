from __future__ import annotations

from pathlib import Path

import pytest

from tulou.errors import ConfigError
from tulou.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "TULOU_ES_URL",
        "TULOU_DB_URL",
        "TULOU_SECRET_KEY",
        "TULOU_DATA_DIR",
        "TULOU_CONFIG",
        "TULOU_MASTER_PASSPHRASE",
        "TULOU_ES_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("var")
    assert settings.es_url is None


def test_toml_then_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "t.toml"
    config.write_text('data_dir = "/srv/tulou"\nlog_level = "debug"\n')
    assert load_settings(config).data_dir == Path("/srv/tulou")
    monkeypatch.setenv("TULOU_DATA_DIR", "/elsewhere")
    settings = load_settings(config)
    assert settings.data_dir == Path("/elsewhere")
    assert settings.log_level == "debug"


def test_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.data_dir = Path("/x")  # type: ignore[misc]


@pytest.mark.parametrize("value", ["changeme", "", "secret", "  Password "])
def test_placeholder_secret_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TULOU_SECRET_KEY", value)
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings()


def test_secret_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TULOU_SECRET_KEY", "s3cr3t-value-that-is-long")
    settings = load_settings()
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings.model_dump())


def test_credentials_in_es_url_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TULOU_ES_URL", "http://elastic:hunter22@127.0.0.1:9200")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "hunter22" not in str(info.value)
    assert "credentials" in str(info.value)


def test_unknown_key_in_file_refused(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text('data_dri = "typo"\n')
    with pytest.raises(ConfigError, match="data_dri"):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
