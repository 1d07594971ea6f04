"""Where the report's evidence lives: the report sources file (YAML), typed and frozen.

Default file ``<data_dir>/reports/sources.yaml`` (optional). Every path may be relative to the
file's directory. A source left out is looked up at its default place under the data directory;
a source that is not there makes its evidence *unavailable* (and its clauses not met), it never
stops the report::

    system: {name: 城市数字政府平台, operator: 某市大数据局}
    applications:                 # the city's apps: what must sit behind the gateway
      - {name: permits, host: permits.city.example}
    gateway:
      config: /etc/tulou/gateway.yaml     # routes, policy file, keys
      audit: [var/gateway/audit.jsonl]    # default: the config's ``audit`` file
    rules: rules/                         # Sigma rules (one per file)
    events: sqlite:///var/detect/events.db   # the event store URL (default: the embedded SQLite)
    retention_days: 365                   # configured event retention, if known
    keys: []                              # extra key files to inventory (PEM), with their usage
    backup:
      sites: var/backup/sites.json        # per-site snapshot and verification status
      drills: var/backup/drills           # signed drill records (*.json)
      drill_key: var/backup/drill-key.pub.pem   # pin the drill signer (optional)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tulou.errors import ConfigError
from tulou.settings import Settings


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Application(_Frozen):
    name: str
    host: str


class GatewaySources(_Frozen):
    config: Path | None = None
    audit: list[Path] = Field(default_factory=list)


class KeyFile(_Frozen):
    path: Path
    usage: str  # signature | encryption | transport | storage | integrity
    where: str = ""


class BackupSources(_Frozen):
    sites: Path | None = None
    drills: Path | None = None
    drill_key: Path | None = None


class SystemInfo(_Frozen):
    name: str = "Tulou city platform"
    operator: str = ""


class Sources(_Frozen):
    system: SystemInfo = SystemInfo()
    applications: list[Application] | None = None
    gateway: GatewaySources = GatewaySources()
    rules: Path | None = None
    events: str | None = None  # an event store URL (detect.stores.open_store)
    retention_days: int | None = None  # the configured event retention, if known
    keys: list[KeyFile] = Field(default_factory=list)
    backup: BackupSources = BackupSources()
    soc_db: str | None = None  # SQLAlchemy URL; default: the SOC's own database

    def with_defaults(self, settings: Settings) -> Sources:
        """Fill unset paths with their default places under the data directory."""
        data = settings.data_dir
        gateway = self.gateway
        if gateway.config is None and (data / "gateway" / "gateway.yaml").is_file():
            gateway = gateway.model_copy(update={"config": data / "gateway" / "gateway.yaml"})
        backup = BackupSources(
            sites=self.backup.sites or data / "backup" / "sites.json",
            drills=self.backup.drills or data / "backup" / "drills",
            drill_key=self.backup.drill_key,
        )
        return self.model_copy(
            update={
                "gateway": gateway,
                "rules": self.rules or Path("rules"),
                "events": self.events
                or settings.es_url
                or f"sqlite:///{(data / 'detect' / 'events.db').resolve()}",
                "backup": backup,
            }
        )


def _absolute(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return value if value.is_absolute() else base / value
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={k: _absolute(getattr(value, k), base) for k in type(value).model_fields}
        )
    if isinstance(value, list):
        return [_absolute(v, base) for v in value]
    return value


#: The first line of a sources file a program wrote (the demo), so it knows it may replace it.
GENERATED = "# written by tulou; replace it with your own (docs/reports.md)"


def dump_sources(sources: Sources) -> str:
    """The YAML of ``sources`` as :func:`load_sources` reads it (unset fields left out)."""
    data = sources.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    return f"{GENERATED}\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def write_sources(path: Path, sources: Sources) -> Path:
    """Write ``sources`` to ``path`` whole or not at all (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".sources-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(dump_sources(sources))
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def written_by_tulou(path: Path) -> bool:
    """Whether the sources file at ``path`` is one a program wrote (absent counts as yes)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\n") == GENERATED
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError):
        return False


def load_sources(settings: Settings, path: Path | None = None) -> Sources:
    """Read the sources file (``path`` or the default, if present) and apply the defaults."""
    explicit = path is not None
    path = path or settings.path("reports", "sources.yaml")
    if not path.is_file():
        if explicit:
            raise ConfigError("the report sources file does not exist", location=str(path))
        return Sources().with_defaults(settings)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        sources = Sources.model_validate(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the report sources: {exc}", location=str(path)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'sources'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(problems, location=str(path)) from None
    resolved = _absolute(sources, path.parent.resolve())
    assert isinstance(resolved, Sources)
    return resolved.with_defaults(settings)
