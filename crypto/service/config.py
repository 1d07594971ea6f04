"""The service's typed, frozen configuration (one TOML file, validated once at start-up).

Secrets are never in this file: service tokens appear only as their SM3 digests
(``token_sm3``), the master passphrase comes from an environment variable. Example:
docs/crypto.md, "Running the service".
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crypto.service.policy import Policy
from tulou.errors import ConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Account(_Frozen):
    """A system calling with a service token (and, if fingerprints are given, mTLS)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    token_sm3: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SM3 of the token")
    client_cert_sha256: tuple[str, ...] = Field(
        default=(), description="hex SHA-256 of client certificates this token is bound to"
    )
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    @field_validator("client_cert_sha256")
    @classmethod
    def _hex(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(v.lower().replace(":", "") for v in value)
        if any(len(v) != 64 or any(c not in "0123456789abcdef" for c in v) for v in out):
            raise ValueError("SHA-256 fingerprints are 64 hex digits")
        return out


class GatewayTrust(_Frozen):
    """Accept callers identified by the gateway's SM2-signed identity assertion."""

    public_key: Path
    issuer: str = "tulou-gateway"
    audience: str = "crypto"
    header: str = "X-Tulou-Identity"
    leeway: float = Field(default=5.0, ge=0, le=60)
    check_path: bool = True


class TlsConfig(_Frozen):
    cert: Path
    key: Path
    client_ca: Path | None = None


class Quota(_Frozen):
    rate: float = Field(default=2000.0, description="operations per second per caller; 0 = off")
    burst: float = Field(default=4000.0, gt=0)
    callers: dict[str, tuple[float, float]] = Field(default_factory=dict)


class ServiceConfig(_Frozen):
    data_dir: Path = Path("var/crypto-service")
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535)
    tls: TlsConfig | None = None
    master: Literal["passphrase", "env"] = "passphrase"
    master_env: str = "TULOU_MASTER_PASSPHRASE"
    master_iterations: int = Field(default=300_000, ge=1000)
    audit_path: Path | None = None
    body_limit: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    batch_limit: int = Field(default=1000, ge=1, le=100_000)
    replay_window: float = Field(default=300.0, ge=1, le=86400)
    destruction_wait: float = Field(default=7 * 86400.0, ge=0)
    rotation_check_interval: float = Field(default=60.0, gt=0)
    quota: Quota = Quota()
    accounts: tuple[Account, ...] = ()
    gateway: GatewayTrust | None = None
    policy: tuple[dict[str, Any], ...] = ()
    ca_name: str = "Tulou City CA"
    ca_validity_days: int = Field(default=3650, ge=1)
    cert_validity_days: int = Field(default=365, ge=1)
    crl_validity_hours: int = Field(default=24, ge=1)
    tsa_name: str = "Tulou City TSA"
    tsa_policy: str = Field(default="1.2.156.112233.1.1", pattern=r"^[0-2](\.[0-9]+)+$")

    def policy_model(self) -> Policy:
        return Policy.from_data(self.policy)

    @property
    def audit_file(self) -> Path:
        return self.audit_path or self.data_dir / "audit.jsonl"


def load_config(path: Path) -> ServiceConfig:
    """Read and validate a TOML file (relative paths are relative to the working directory)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not TOML: {exc}", location=str(path)) from None
    try:
        config = ServiceConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(problems, location=str(path)) from None
    config.policy_model()  # validate the rules now, not on the first request
    return config
