"""The backup policy: sites (multi-point, multi-copy), sources, objectives. A TOML file.

Example (docs/backup.md has every key)::

    passphrase_env = "TULOU_BACKUP_PASSPHRASE"   # the NAME of the variable, never the value
    signing_key_fingerprint = "..."              # optional pin, checked at every site

    [[sites]]
    name = "primary"
    url = "/srv/backup/tulou"                      # local:..., sftp://..., s3://...
    [[sites]]
    name = "offsite"
    url = "sftp://backup@10.1.2.3/srv/tulou"
    append_only = true
    options = { key_file = "~/.ssh/id_ed25519", known_hosts = "~/.ssh/known_hosts" }

    [[sources]]
    name = "soc-db"
    kind = "sqlite"
    path = "var/soc.db"

    [objectives]
    rto_seconds = 3600
    rpo_seconds = 86400

    [soc]
    url = "http://127.0.0.1:8000"     # optional: drill alerts are POSTed to its ingest API
    token_env = "TULOU_SOC_TOKEN"

    [filters]                         # optional; applies to `path` sources (backup/filters.py)
    exclude = ["*.tmp", "/srv/app/cache"]
    exclude_files = ["/etc/tulou/backup.exclude"]
    exclude_caches = true             # directories tagged with CACHEDIR.TAG
    exclude_larger_than = "2G"

The first site is the primary: backups are written there, then copied to the others.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backup.filters import Filters, parse_size, read_exclude_file
from backup.sources import Source
from tulou.errors import ConfigError, TulouError

PASSPHRASE_ENV = "TULOU_BACKUP_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    append_only: bool = False
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Objectives:
    rto_seconds: float = 4 * 3600
    rpo_seconds: float = 24 * 3600


@dataclass(frozen=True)
class Policy:
    sites: tuple[Site, ...]
    sources: tuple[Source, ...] = ()
    objectives: Objectives = Objectives()
    passphrase_env: str = PASSPHRASE_ENV
    signing_key_fingerprint: str | None = None
    soc_url: str | None = None
    soc_token_env: str = "TULOU_SOC_TOKEN"  # noqa: S105 - a variable name
    filters: Filters = field(default_factory=Filters)

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        raise ConfigError(f"no site named {name!r} (sites: {[s.name for s in self.sites]})")

    def passphrase(self) -> str | None:
        return os.environ.get(self.passphrase_env)


def single_site(url: str) -> Policy:
    return Policy(sites=(Site("default", url),))


def parse(data: dict[str, Any], where: str = "policy") -> Policy:
    try:
        sites = tuple(
            Site(
                str(s["name"]),
                str(s["url"]),
                bool(s.get("append_only", False)),
                {str(k): str(v) for k, v in dict(s.get("options", {})).items()},
            )
            for s in data.get("sites", [])
        )
        sources = tuple(
            Source(
                str(s["name"]),
                str(s["kind"]),
                {k: v for k, v in s.items() if k not in ("name", "kind")},
            )
            for s in data.get("sources", [])
        )
        objectives = Objectives(**{k: float(v) for k, v in data.get("objectives", {}).items()})
        soc = dict(data.get("soc", {}))
        filters = _filters(dict(data.get("filters", {})), where)
        policy = Policy(
            sites=sites,
            sources=sources,
            objectives=objectives,
            passphrase_env=str(data.get("passphrase_env", PASSPHRASE_ENV)),
            signing_key_fingerprint=data.get("signing_key_fingerprint"),
            soc_url=soc.get("url"),
            soc_token_env=str(soc.get("token_env", "TULOU_SOC_TOKEN")),
            filters=filters,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid backup policy: {exc}", location=where) from exc
    if not policy.sites:
        raise ConfigError("a backup policy needs at least one [[sites]] entry", location=where)
    names = [s.name for s in policy.sites]
    if len(set(names)) != len(names):
        raise ConfigError(f"site names must be unique: {names}", location=where)
    if policy.soc_url and not policy.soc_url.startswith(("http://", "https://")):
        raise ConfigError("soc.url must be an http(s) URL", location=where)
    return policy


def _filters(table: dict[str, Any], where: str) -> Filters:
    unknown = set(table) - {"exclude", "exclude_files", "exclude_caches", "exclude_larger_than"}
    if unknown:
        raise ConfigError(f"unknown [filters] keys: {sorted(unknown)}", location=where)
    try:
        patterns = [str(p) for p in table.get("exclude", [])]
        for name in table.get("exclude_files", []):
            patterns += read_exclude_file(Path(str(name)).expanduser())
        limit = table.get("exclude_larger_than")
        return Filters(
            tuple(patterns),
            bool(table.get("exclude_caches", False)),
            None if limit is None else parse_size(str(limit)),
        )
    except TulouError as exc:
        raise ConfigError(f"[filters]: {exc}", location=where) from exc


def load(path: Path) -> Policy:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read backup policy {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", location=str(path)) from exc
    return parse(data, str(path))
