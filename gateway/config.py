"""The gateway configuration file (YAML): typed, validated once, then frozen.

Relative paths are resolved against the directory of the config file. The hot-reloadable
inputs (policy, issuers, revocations, inventory) are separate files named here; everything else
needs a restart. See gateway/examples/gateway.yaml and docs/gateway.md.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tulou.contracts.routes import host_labels
from tulou.errors import ConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Listen(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8443, ge=0, le=65535)


class TlsFiles(_Frozen):
    cert: Path = Field(description="PEM: the gateway's server certificate (chain allowed)")
    key: Path = Field(description="PEM: its private key")


class DeviceSection(_Frozen):
    ca: Path = Field(description="PEM: the device CA(s) that client certificates must chain to")
    crl: Path | None = Field(None, description="PEM CRL signed by the device CA")
    inventory: Path | None = Field(None, description="YAML device inventory (hot-reloaded)")
    freshness: float = Field(86400.0, gt=0, description="seconds a posture check-in stays fresh")


class IdentitySection(_Frozen):
    issuers: Path = Field(description="YAML issuers and keys (hot-reloaded)")
    revocations: Path | None = Field(None, description="YAML revocation list (hot-reloaded)")
    leeway: float = Field(30.0, ge=0, le=300, description="clock skew allowed, seconds")
    replay_cache_size: int = Field(1_000_000, ge=1000)


class Bucket(_Frozen):
    rate: float = Field(gt=0)
    burst: float = Field(ge=1)


class RateLimits(_Frozen):
    subject: Bucket | None = Bucket(rate=50, burst=100)
    device: Bucket | None = Bucket(rate=50, burst=100)
    # Spent by every request from an address before any other check (denied ones included).
    ip: Bucket | None = Bucket(rate=100, burst=200)
    # Spent by every failed authentication, per address and per claimed (unverified) subject;
    # an empty bucket refuses a new token with 429 before its signature is checked.
    auth_failure: Bucket | None = Bucket(rate=0.5, burst=10)
    # Tokens an instance takes from a shared bucket at once and spends locally (<= 1 s).
    lease: Annotated[int, Field(ge=1, le=1000)] = 32


class Limits(_Frozen):
    """Connection and request-head limits (mitmproxy itself has none of these)."""

    max_header_bytes: Annotated[int, Field(ge=1024, description="request line + headers")] = (
        32 * 1024
    )
    max_header_count: Annotated[int, Field(ge=8)] = 100
    header_timeout: Annotated[
        float, Field(gt=0, description="s to send a complete request head")
    ] = 10.0
    idle_timeout: Annotated[
        float, Field(gt=0, description="s a keep-alive connection may idle")
    ] = 60.0
    body_timeout: Annotated[float, Field(gt=0, description="s to send a request body")] = 60.0
    max_connections_per_address: Annotated[int, Field(ge=1)] = 64
    max_token_bytes: Annotated[
        int, Field(ge=256, description="longer bearer tokens are refused")
    ] = 8192


class OnStateDown(_Frozen):
    """What each kind of shared state does while the store is unreachable."""

    replay: Literal["closed", "local"] = "closed"
    revocations: Literal["closed", "last-known"] = "closed"
    rate_limits: Literal["local", "closed"] = "local"


class StateSection(_Frozen):
    """Shared state of N gateway instances (docs/gateway.md, "The state seam")."""

    backend: Literal["memory", "redis"] = "memory"
    url: Annotated[str, Field(description="redis://host:port/db (no password)")] = (
        "redis://127.0.0.1:6379/0"
    )
    password_file: Annotated[Path | None, Field(description="file holding the Redis password")] = (
        None
    )
    timeout: Annotated[
        float, Field(gt=0, le=5, description="socket timeout of each Redis call, s")
    ] = 0.25
    retry: Annotated[float, Field(gt=0, le=30, description="s a failed store is left alone")] = 0.5
    sync_interval: Annotated[
        float, Field(gt=0, le=10, description="s between revocation resyncs")
    ] = 1.0
    # seconds without a revocation sync after which revocations count as unknown
    revocation_staleness: Annotated[float, Field(gt=0)] = 5.0
    on_down: OnStateDown = OnStateDown()

    @field_validator("url")
    @classmethod
    def _no_secret(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix") or parts.password:
            raise ValueError("must be redis://host:port/db without a password (use password_file)")
        return value


class AssertionSection(_Frozen):
    key: Path = Field(description="PEM SM2 private key signing the identity assertion")
    issuer: str = "tulou-gateway"
    header: str = "X-Tulou-Identity"
    ttl: int = Field(60, ge=5, le=600)
    kid: str = "gateway"


class EnvelopeSection(_Frozen):
    """System-to-system sealing: this gateway's SM2 key pair and its peers' public keys."""

    name: str = Field(description="this gateway's name in envelopes")
    private_key: Path = Field(description="PEM SM2 private key (decrypts, signs)")
    peers: dict[str, Path] = Field(description="peer name -> PEM SM2 public key")
    max_age: float = Field(300.0, gt=0, description="seconds an envelope stays acceptable")


class Route(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    host: str = Field(description="exact host (lowercase) or *.domain")
    prefix: str = "/"
    upstream: str = Field(description="http(s)://host:port of the app")
    inter_system: Literal["off", "seal", "open"] = Field(
        "off",
        description="seal: encrypt+sign bodies to the peer gateway (sender side); "
        "open: verify+decrypt envelopes from peers (receiver side)",
    )
    peer: str | None = Field(None, description="envelope peer for inter_system: seal")
    assertion: bool = True
    body_limit: str | None = Field(
        None, description="largest request body (e.g. 1m); default body_size_limit"
    )
    plane: Literal["fast", "inspect"] | None = Field(
        None,
        description="fast: nginx enforces the decision point's answer; inspect: the mitmproxy "
        "gateway (needed by routes that read bodies). Default: inspect for inter_system routes, "
        "else fast",
    )

    @property
    def data_plane(self) -> str:
        """``fast`` or ``inspect``: the plane this route is served by (``plane`` or derived)."""
        if self.plane is not None:
            return self.plane
        return "fast" if self.inter_system == "off" else "inspect"

    @field_validator("upstream")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            not in (
                "",
                "/",
            )
        ):
            raise ValueError("must be http(s)://host[:port] without a path")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials")
        return value.rstrip("/")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            host_labels(value)  # the router's grammar: '*' is one whole DNS label
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @cached_property
    def upstream_parts(self) -> tuple[str, str, int]:
        """(scheme, host, port) of ``upstream``; parsed once (the model is frozen)."""
        parts = urlsplit(self.upstream)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.scheme, parts.hostname or "", port


class DataPlaneSection(_Frozen):
    """The nginx fast plane (``tulou gateway run --data-plane nginx``; docs/gateway.md)."""

    socket: Annotated[Path, Field(description="Unix socket of the decision point")] = Path(
        "state/decision.sock"
    )
    workdir: Annotated[Path, Field(description="nginx.conf, pid, temp dirs")] = Path("state/nginx")
    nginx: Annotated[str, Field(description="the nginx binary")] = "nginx"
    workers: int | Literal["auto"] = "auto"
    cache_ttl: Annotated[
        float, Field(gt=0, le=1.0, description="s a decision is reused (bounds revocation delay)")
    ] = 0.5
    cache_size: Annotated[int, Field(ge=16)] = 65_536
    inspect_port: Annotated[
        int, Field(ge=0, le=65535, description="loopback port of the mitmproxy plane behind nginx")
    ] = 0
    access_log: Annotated[Path | None, Field(description="nginx's own access log")] = None


class GatewayConfig(_Frozen):
    listen: Listen = Listen(host="127.0.0.1", port=8443)
    admin: Listen = Listen(host="127.0.0.1", port=9090)
    tls: TlsFiles
    device: DeviceSection
    identity: IdentitySection
    policy: Path
    routes: list[Route] = Field(min_length=1)
    rate_limit: RateLimits = RateLimits()
    limits: Limits = Limits()
    state: StateSection = StateSection()
    assertion: AssertionSection | None = None
    envelope: EnvelopeSection | None = None
    data_plane: DataPlaneSection = DataPlaneSection()
    audit: Path | None = Field(None, description="JSON-lines audit file; stdout-free if unset")
    upstream_ca: Path | None = Field(None, description="PEM CA to verify https upstreams")
    confdir: Path = Field(Path("var/gateway/mitmproxy"), description="mitmproxy state dir")
    body_size_limit: str = "10m"
    reload_interval: float = Field(2.0, gt=0, description="seconds between file checks")
    drain_timeout: float = Field(10.0, ge=0, description="graceful shutdown drain, seconds")
    strip_headers: list[str] = Field(
        default_factory=lambda: [
            "X-Tulou-Identity",
            "X-Remote-User",
            "X-User",
            "X-Forwarded-User",
            "X-Auth-Request-User",
            "X-Auth-Request-Email",
            "Remote-User",
            "X-Client-Cert",
            "X-SSL-Client-Cert",
            "X-Tulou-Device",
        ],
        description="identity headers removed from every client request",
    )

    def resolve(self, base: Path) -> GatewayConfig:
        """A copy with every relative path made absolute against ``base``."""

        def fix(value: object) -> object:
            if isinstance(value, Path):
                return value if value.is_absolute() else (base / value)
            if isinstance(value, BaseModel):
                return value.model_copy(
                    update={k: fix(getattr(value, k)) for k in type(value).model_fields}
                )
            if isinstance(value, dict):
                return {k: fix(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fix(v) for v in value]
            return value

        fixed = fix(self)
        assert isinstance(fixed, GatewayConfig)
        return fixed


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int | None:
    """``10m`` -> 10485760 (units b, k, m, g; powers of 1024); None if malformed."""
    value = text.strip().lower()
    number, unit = value.rstrip("bkmg"), value[len(value.rstrip("bkmg")) :]
    if not number.isdigit() or unit not in _UNITS:
        return None
    return int(number) * _UNITS[unit]


def route_body_limit(config: GatewayConfig, route: Route) -> int:
    """The largest request body ``route`` accepts, in bytes."""
    return parse_size(route.body_limit or config.body_size_limit) or 0


def load_config(path: Path) -> GatewayConfig:
    """Read, validate and resolve the gateway config. Raises :class:`ConfigError`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read gateway config: {exc}", location=str(path)) from None
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(problems, location=str(path)) from None
    ids = [r.id for r in config.routes]
    if len(set(ids)) != len(ids):
        raise ConfigError("route ids must be unique", location=str(path))
    for size in [config.body_size_limit, *(r.body_limit for r in config.routes if r.body_limit)]:
        if parse_size(size) is None:
            raise ConfigError(f"{size!r} is not a size (e.g. 10m)", location=str(path))
    for route in config.routes:
        if route.inter_system != "off" and config.envelope is None:
            raise ConfigError(
                f"route {route.id} is inter-system but no envelope section", location=str(path)
            )
        if route.inter_system != "off" and route.plane == "fast":
            raise ConfigError(
                f"route {route.id}: inter-system routes read bodies: plane must be inspect",
                location=str(path),
            )
        if route.inter_system == "seal" and (
            config.envelope is None or route.peer not in config.envelope.peers
        ):
            raise ConfigError(
                f"route {route.id}: peer must name an envelope peer", location=str(path)
            )
    return config.resolve(path.parent.resolve())
