"""Typed, validated, frozen settings: built once in the entry point and passed down.

Sources, highest precedence first: ``TULOU_*`` environment variables, then the TOML file named
by ``--config`` / ``TULOU_CONFIG`` (default ``tulou.toml`` in the working directory, if present),
then the defaults below. Secrets are ``SecretStr`` (never printed in reprs or logs) and are
never read from the command line. Placeholder secrets are refused at start-up.

Nothing here runs at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tulou.errors import ConfigError

#: Values that people paste from examples; a secret equal to one of them is refused.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "password", "admin", "test", "example"}
)

_config_file: Path | None = None


class Settings(BaseSettings):
    """Global settings. Each component keeps its own config model for its own file."""

    model_config = SettingsConfigDict(
        env_prefix="TULOU_",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
    )

    data_dir: Path = Field(
        default=Path("var"), description="Where SQLite files, keys, state and logs live."
    )
    es_url: str | None = Field(
        default=None,
        description="An existing Elasticsearch cluster; when unset the lab node or SQLite is used.",
    )
    es_api_key: SecretStr | None = Field(default=None, description="API key for es_url.")
    db_url: SecretStr | None = Field(
        default=None, description="SOC database (SQLAlchemy URL); SQLite under data_dir if unset."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs SOC sessions; generated and stored under data_dir if unset.",
    )
    master_passphrase: SecretStr | None = Field(
        default=None, description="Unwraps the key store's master key."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("es_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        if parts.username or parts.password:
            # Secrets never in URLs: they end up in logs, process lists and proxies.
            raise ValueError("must not contain credentials; set TULOU_ES_API_KEY instead")
        return value.rstrip("/")

    @field_validator("es_api_key", "db_url", "secret_key", "master_passphrase")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder value; set a real secret")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_config_file))
        return tuple(sources)

    def path(self, *parts: str) -> Path:
        """A path under the data directory (not created)."""
        return self.data_dir.joinpath(*parts)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "settings"
        # Never echo the input: it may be a secret.
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once. Raises :class:`ConfigError` with every problem found."""
    global _config_file  # noqa: PLW0603 - pydantic-settings reads the file path from the class
    if config_file is None:
        env_file = os.environ.get("TULOU_CONFIG")
        if env_file:
            config_file = Path(env_file)
        elif Path("tulou.toml").is_file():
            config_file = Path("tulou.toml")
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    _config_file = config_file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(
            _describe(exc), location=str(config_file) if config_file else None
        ) from exc
    finally:
        _config_file = None
