"""Per-source settings for inputs whose records do not say everything: the sources file.

RFC 3164 syslog lines carry no zone and no year, so each source (a log file, a remote host's
folder) says which zone its host logs in and, if it must be fixed, the year. A TOML file::

    timezone = "Asia/Shanghai"          # default for every source (this is the default)

    [[source]]
    path = "/var/log/remote/hk-*/*"     # shell-style pattern on the input's path
    timezone = "Asia/Hong_Kong"

    [[source]]
    path = "*/archive-2019/*"
    year = 2019                          # every line of these files is in 2019

The first ``[[source]]`` whose ``path`` matches an input's path (as given, or absolute) wins;
unset keys fall back to the file's defaults, which the command line's ``--timezone`` /
``--year`` override. Built once in the entry point, validated, frozen
(:func:`load_sources`), then asked per input (:meth:`SourcesConfig.clock_for`).
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from detect.parsers.syslog_time import DEFAULT_TIMEZONE, LocalClock, zone_named
from tulou.errors import ConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _known_zone(value: str | None) -> str | None:
    if value is not None:
        zone_named(value)  # ValueError names the zone
    return value


class SourceRule(_Frozen):
    """Settings of the inputs whose path matches ``path``."""

    path: str = Field(min_length=1, description="Shell-style pattern on the input's path.")
    timezone: str | None = Field(default=None, description="IANA zone the source logs in.")
    year: int | None = Field(default=None, ge=1970, le=9998, description="Fixed year.")

    _zone = field_validator("timezone")(_known_zone)

    def matches(self, path: Path) -> bool:
        return fnmatchcase(str(path), self.path) or fnmatchcase(str(path.absolute()), self.path)


class SourcesConfig(_Frozen):
    """Defaults and per-source rules (see the module docstring)."""

    timezone: str = Field(default=DEFAULT_TIMEZONE, description="Zone of sources no rule names.")
    year: int | None = Field(default=None, ge=1970, le=9998, description="Fixed year, if any.")
    source: tuple[SourceRule, ...] = ()

    _zone = field_validator("timezone")(_known_zone)

    def with_defaults(self, timezone: str | None, year: int | None) -> SourcesConfig:
        """This config with the command line's defaults (``None``: keep the file's)."""
        changes: dict[str, object] = {}
        if timezone is not None:
            changes["timezone"] = timezone
        if year is not None:
            changes["year"] = year
        try:
            return SourcesConfig.model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from exc

    def clock_for(self, path: Path | None, reference: float | None) -> LocalClock:
        """How to read the zone-less times of ``path``; ``reference`` bounds inferred years
        (its modification time; ``None``: now, for a log being followed)."""
        zone, year = self.timezone, self.year
        for rule in self.source:
            if path is not None and rule.matches(path):
                zone = rule.timezone or zone
                year = rule.year if rule.year is not None else year
                break
        return LocalClock(zone=zone, year=year, reference=None if year else reference)


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'sources'}: {item['msg']}"
        for item in error.errors()
    )


def load_sources(path: Path | None) -> SourcesConfig:
    """The sources file at ``path`` (``None``: the defaults); :class:`ConfigError` with every
    problem and the file's name if it cannot be used."""
    if path is None:
        return SourcesConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", location=str(path)) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", location=str(path)) from exc
    try:
        return SourcesConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), location=str(path)) from exc
