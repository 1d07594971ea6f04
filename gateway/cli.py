"""The `tulou gateway` group: run the proxy, check and explain policies, issue lab tokens."""

from __future__ import annotations

import ipaddress
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from tulou.clikit import emit, json_option
from tulou.errors import ConfigError, UsageError


@click.group()
def gateway() -> None:
    """The zero-trust access proxy: policy decision point and mitmproxy enforcement."""


@gateway.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Gateway config (YAML); see gateway/examples/gateway.yaml.",
)
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning"]))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Gateway processes sharing the port (SO_REUSEPORT); more than 1 needs state.backend: "
    "redis. SIGHUP reloads all, SIGUSR2 restarts them one by one, SIGTERM drains all.",
)
@click.option(
    "--data-plane",
    default="mitmproxy",
    show_default=True,
    type=click.Choice(["mitmproxy", "nginx"]),
    help="nginx: nginx terminates TLS and enforces the decision point's answers (the fast "
    "plane, docs/gateway.md); mitmproxy: the mitmproxy gateway does everything.",
)
@click.option("--worker-port", type=int, hidden=True, help="(internal) run as a worker.")
@click.option("--worker-admin-port", type=int, hidden=True, help="(internal) its admin port.")
def run(  # noqa: PLR0917 - one parameter per click option
    config_path: Path,
    log_level: str,
    workers: int,
    data_plane: str,
    worker_port: int | None,
    worker_admin_port: int | None,
) -> None:
    """Run the gateway until SIGTERM/SIGINT (graceful drain); SIGHUP reloads files.

    Prints one JSON line on stdout once listening: {"event": "listening", "proxy": [host,
    port], "admin": [host, port], ...} (with --workers: also "workers", each one's pid and
    admin address). Logs go to stderr.
    """
    import asyncio  # noqa: PLC0415 - the other commands stay fast without mitmproxy
    import logging  # noqa: PLC0415

    from gateway.config import Listen, load_config  # noqa: PLC0415

    logging.basicConfig(
        stream=sys.stderr,
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = load_config(config_path)

    def announce(info: dict[str, Any]) -> None:
        click.echo(json.dumps(info))
        sys.stdout.flush()

    if data_plane == "nginx":
        import uvloop  # noqa: PLC0415

        from gateway.fastplane import FastPlane  # noqa: PLC0415

        if workers > 1:
            raise UsageError("--workers applies to the mitmproxy plane; nginx has its own")

        async def fast() -> None:
            await FastPlane(config, config_path).run(announce)

        uvloop.run(fast())
        return
    if workers > 1 and worker_port is None:
        from gateway.workers import Supervisor  # noqa: PLC0415

        sys.exit(Supervisor(config_path, config, workers, log_level).run(announce))
    if worker_port is not None:
        config = config.model_copy(
            update={
                "listen": Listen(host=config.listen.host, port=worker_port),
                "admin": Listen(host=config.admin.host, port=worker_admin_port or 0),
            }
        )

    from gateway.runner import Gateway  # noqa: PLC0415

    async def main() -> None:
        await Gateway(config, reuse_port=worker_port is not None).run(announce)

    asyncio.run(main())


@gateway.command("render-nginx")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Gateway config (YAML).",
)
@json_option
def render_nginx(config_path: Path) -> None:
    """Print the fast plane's nginx.conf rendered from the gateway config (one source of truth).

    `tulou gateway run --data-plane nginx` writes and runs the same file; exit 3 when the config
    cannot be served by the fast plane.
    """
    from gateway.config import load_config  # noqa: PLC0415
    from gateway.nginx_conf import render  # noqa: PLC0415

    config = load_config(config_path)
    section = config.data_plane
    text = render(config, socket=section.socket, workdir=section.workdir, audit=config.audit)
    emit({"nginx_conf": text, "routes": [r.id for r in config.routes]}, text.rstrip("\n"))


@gateway.group()
def policy() -> None:
    """Check and explain policy files offline."""


@policy.command("check")
@click.argument("policy_file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def policy_check(policy_file: Path) -> None:
    """Validate a policy file; exit 3 with every problem (file:line) if it is invalid."""
    from gateway.policy import load_policy  # noqa: PLC0415

    loaded = load_policy(policy_file)
    data = {
        "ok": True,
        "file": str(policy_file),
        "sha256": loaded.digest,
        "rules": [
            {"id": r.id, "effect": r.effect.value, "location": r.location} for r in loaded.rules
        ],
    }
    emit(data, f"{policy_file}: ok, {len(loaded.rules)} rules, sha256 {loaded.digest}")


def _claims(pairs: tuple[str, ...]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--claim {pair!r}: expected NAME=VALUE")
        claims.setdefault(name, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in claims.items()}


@policy.command("explain")
@click.option("--policy", "policy_file", required=True, type=click.Path(path_type=Path))
@click.option("--request", "request_line", required=True, help='"METHOD https://host/path"')
@click.option("--route", help="Route id (default: looked up in --config if given).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Gateway config.")
@click.option("--subject", help="Authenticated subject (omit for anonymous).")
@click.option("--issuer", help="Issuer name of the token.")
@click.option("--group", "groups", multiple=True)
@click.option("--role", "roles", multiple=True)
@click.option("--claim", "claims", multiple=True, help="NAME=VALUE, repeatable (acr=mfa).")
@click.option("--source-ip", default="127.0.0.1", show_default=True)
@click.option("--device-fingerprint", help="A verified device certificate's SHA-256.")
@click.option("--device-owner", "owners", multiple=True, help="Inventory owners of the device.")
@click.option(
    "--posture",
    default="",
    help="Comma list of enrolled,disk_encrypted,fresh and patch=YYYY-MM (device in inventory).",
)
@click.option("--at", "at_time", help="ISO 8601 time of the request (default: now).")
@json_option
def policy_explain(  # noqa: PLR0917 - one parameter per click option
    policy_file: Path,
    request_line: str,
    route: str | None,
    config_path: Path | None,
    subject: str | None,
    issuer: str | None,
    groups: tuple[str, ...],
    roles: tuple[str, ...],
    claims: tuple[str, ...],
    source_ip: str,
    device_fingerprint: str | None,
    owners: tuple[str, ...],
    posture: str,
    at_time: str | None,
) -> None:
    """Evaluate one request offline and show every rule considered and the decision."""
    from gateway.policy import (  # noqa: PLC0415
        BUILTIN_NO_ROUTE,
        Decision,
        DeviceFacts,
        DevicePosture,
        RequestFacts,
        canonical_host,
        canonical_path,
        evaluate,
        load_policy,
    )

    method, _, url = request_line.strip().partition(" ")
    parts = urlsplit(url.strip())
    if not method or not parts.hostname:
        raise UsageError('--request must look like "GET https://host/path"')
    host = canonical_host(parts.hostname)
    path = canonical_path(parts.path or "/")
    loaded = load_policy(policy_file)
    if route is None and config_path is not None:
        from gateway.config import load_config  # noqa: PLC0415
        from gateway.routing import CanonicalRoutes  # noqa: PLC0415

        # The router's own matching: explain answers for the route the gateway would pick.
        matched = CanonicalRoutes(load_config(config_path).routes).match(
            host, path, case_sensitive=loaded.case_sensitive_paths
        )
        route = matched.id if matched is not None else None
    flags = {f.strip() for f in posture.split(",") if f.strip()}
    patch = next((f.split("=", 1)[1] for f in flags if f.startswith("patch=")), None)
    device = DeviceFacts()
    if device_fingerprint:
        device = DeviceFacts(
            present=True,
            verified=True,
            fingerprint=device_fingerprint,
            owners=frozenset(owners),
            posture=DevicePosture(
                enrolled="enrolled" in flags,
                os_patch_level=patch,
                disk_encrypted="disk_encrypted" in flags,
                fresh="fresh" in flags,
            )
            if flags
            else None,
        )
    try:
        moment = datetime.fromisoformat(at_time) if at_time else datetime.now(UTC)
        address = ipaddress.ip_address(source_ip)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    facts = RequestFacts(
        method=method.upper(),
        host=host,
        path=path,
        source_ip=address,
        now=moment,
        route_id=route,
        subject=subject,
        issuer=issuer,
        groups=frozenset(groups),
        roles=frozenset(roles),
        claims=_claims(claims),
        device=device,
    )
    if route is None and config_path is not None:
        # As the router: a request no route serves is denied before any policy rule runs.
        trace = (f"route: no route of {config_path} serves {host}{path}",)
        decision = Decision(False, BUILTIN_NO_ROUTE, "no route for host/path", 404, trace)
    else:
        decision = evaluate(loaded, facts, explain=True)
    data = {
        "allowed": decision.allowed,
        "rule_id": decision.rule_id,
        "reason": decision.reason,
        "status": decision.status,
        "route": route,
        "path": path,
        "trace": list(decision.trace),
    }
    verdict = "ALLOW" if decision.allowed else "DENY"
    human = "\n".join(
        [
            *(f"  {line}" for line in decision.trace),
            f"{verdict} {decision.status} by {decision.rule_id}: {decision.reason}",
        ]
    )
    emit(data, human)


@gateway.command("token")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(path_type=Path),
    help="PEM private key of the issuer (lab keys only).",
)
@click.option("--alg", required=True, type=click.Choice(["RS256", "ES256", "EdDSA", "SM2SM3"]))
@click.option("--issuer", required=True, help="The iss claim (the issuer's URL).")
@click.option("--audience", required=True)
@click.option("--subject", required=True)
@click.option("--kid", help="Key id in the issuer's key set.")
@click.option("--ttl", default=300, show_default=True, type=click.IntRange(1, 86400))
@click.option("--group", "groups", multiple=True)
@click.option("--role", "roles", multiple=True)
@click.option("--claim", "claims", multiple=True, help="NAME=VALUE, repeatable.")
@json_option
def token(  # noqa: PLR0917 - one parameter per click option
    key_file: Path,
    alg: str,
    issuer: str,
    audience: str,
    subject: str,
    kid: str | None,
    ttl: int,
    groups: tuple[str, ...],
    roles: tuple[str, ...],
    claims: tuple[str, ...],
) -> None:
    """Issue a lab token (prints the JWT). Real deployments use their identity provider."""
    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        load_pem_private_key,
    )

    from gateway.sm2jwt import load_private_key  # noqa: PLC0415
    from gateway.tokens import make_codec  # noqa: PLC0415

    try:
        data = key_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key: {exc}") from None
    try:
        key: Any = (
            load_private_key(data, str(key_file))
            if alg == "SM2SM3"
            else load_pem_private_key(data, password=None)
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not a usable private key: {exc}", location=str(key_file)) from None
    moment = int(time.time())
    payload: dict[str, Any] = {
        **_claims(claims),
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": moment,
        "exp": moment + ttl,
        "jti": secrets.token_hex(16),
    }
    if groups:
        payload["groups"] = list(groups)
    if roles:
        payload["roles"] = list(roles)
    jwt = make_codec().encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)
    emit({"token": jwt, "jti": payload["jti"], "exp": payload["exp"]}, jwt)
