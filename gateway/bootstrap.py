"""Building the runtime both planes decide with: state store, verifiers, signers (no I/O loop)."""

from __future__ import annotations

from typing import Any

from gateway.assertion import AssertionSigner
from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.devices import DeviceVerifier
from gateway.sealing import Sealer
from gateway.sm2jwt import load_private_key
from gateway.state import Runtime
from gateway.store import StateStore, open_store
from tulou.errors import ConfigError


def open_state(config: GatewayConfig, on_state: Any = None) -> StateStore:
    """The configured state store (``state.backend``); the password is read from its file."""
    section = config.state
    if section.backend == "memory":
        return open_store("memory")
    password = None
    if section.password_file is not None:
        try:
            password = section.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read state.password_file: {exc}") from None
    return open_store(
        "redis",
        section.url,
        password=password,
        timeout=section.timeout,
        retry=section.retry,
        on_state=on_state,
    )


def build_runtime(config: GatewayConfig) -> Runtime:
    """Everything that does not need the event loop: static verifiers and signers."""
    audit = AuditLog(config.audit)
    holder: list[Runtime] = []

    def on_state(up: bool, reason: str) -> None:
        if holder:
            holder[0].state_changed("store", reason, up=up)

    runtime = Runtime(config=config, audit=audit, store=open_state(config, on_state))
    holder.append(runtime)
    runtime.devices = DeviceVerifier(config.device.ca, config.device.crl)
    if config.assertion is not None:
        try:
            data = config.assertion.key.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the assertion key: {exc}") from None
        key = load_private_key(data, str(config.assertion.key))
        runtime.extras["assertion_signer"] = AssertionSigner(
            key, config.assertion.issuer, config.assertion.kid, config.assertion.ttl
        )
    if config.envelope is not None:
        runtime.extras["sealer"] = Sealer.from_files(
            config.envelope.name,
            config.envelope.private_key,
            dict(config.envelope.peers),
            config.envelope.max_age,
        )
    return runtime
