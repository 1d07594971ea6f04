"""``tulou crypto remote tenants|rings|keys ...``: departments, key rings, keys, lifecycle.

Key material never crosses the command line: ``keys import`` encrypts it locally to the
service's import key (SM2, GM/T 0009) before sending it; ``keys export`` receives it
SM2-encrypted to a public key the caller names (decrypt it with ``tulou crypto decrypt``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from crypto.service.remote_common import (
    FILE,
    URL,
    VERSION,
    b64,
    client,
    key_path,
    parse_context,
    read,
    unb64,
    write,
)
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from tulou.clikit import emit, json_option
from tulou.errors import UsageError


def _tenant_ring(text: str) -> tuple[str, str]:
    parts = text.split("/")
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"give TENANT/RING, got {text!r}")
    return parts[0], parts[1]


@click.group("tenants")
def tenants() -> None:
    """Departments (tenants) of the service."""


@tenants.command("create")
@click.argument("tenant")
@URL
@json_option
def tenants_create(tenant: str, url: str | None) -> None:
    """Create a tenant (a department)."""
    with client(url) as kms:
        result = kms.request("POST", "/v1/tenants", {"tenant": tenant})
    emit({"ok": True, **result}, f"created tenant {tenant}")


@click.group("rings")
def rings() -> None:
    """Key rings of a tenant."""


@rings.command("create")
@click.argument("ring", metavar="TENANT/RING")
@URL
@json_option
def rings_create(ring: str, url: str | None) -> None:
    """Create a key ring in a tenant."""
    tenant, name = _tenant_ring(ring)
    with client(url) as kms:
        result = kms.request("POST", f"/v1/tenants/{tenant}/rings", {"ring": name})
    emit({"ok": True, **result}, f"created key ring {tenant}/{name}")


@click.group("keys")
def keys() -> None:
    """Keys of the service and their lifecycle."""


@keys.command("create")
@click.argument("key")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["sm4", "sm2", "hmac-sm3"]),
    default="sm4",
    show_default=True,
)
@click.option("--rotation-period", type=click.IntRange(min=1), help="Rotate every N seconds.")
@click.option("--exportable", is_flag=True, help="Allow export (off by default).")
@click.option("--label", "labels", multiple=True, help="Label KEY=VALUE (repeatable).")
@URL
@json_option
def keys_create(
    *,
    key: str,
    key_type: str,
    rotation_period: int | None,
    exportable: bool,
    labels: tuple[str, ...],
    url: str | None,
) -> None:
    """Create KEY (tenant/ring/key) inside the service."""
    options: dict[str, Any] = {"exportable": exportable}
    if rotation_period:
        options["rotation_period"] = rotation_period
    if labels:
        options["labels"] = parse_context(labels)
    with client(url) as kms:
        record = kms.create_key(key_path(key), key_type, **options)
    emit(record, f"created {record['path']}@v1 ({key_type})")


@keys.command("list")
@click.argument("ring", metavar="TENANT/RING")
@URL
@json_option
def keys_list(ring: str, url: str | None) -> None:
    """The keys of a key ring."""
    tenant, name = _tenant_ring(ring)
    with client(url) as kms:
        result = kms.request("GET", f"/v1/tenants/{tenant}/rings/{name}/keys")
    emit(result, "\n".join(result["keys"]) or "(no keys)")


def _show(record: dict[str, Any]) -> str:
    lines = [
        f"{record['path']}  {record['type']}  primary v{record['primary']}  "
        f"{'enabled' if record['enabled'] else 'DISABLED'}  "
        f"min decrypt v{record['min_decrypt_version']}  "
        f"{'exportable' if record.get('exportable') else 'non-exportable'}"
    ]
    lines += [f"  v{v['version']:<4} {v['state']:16} {v['created']}" for v in record["versions"]]
    for version, pending in sorted(record.get("destruction", {}).items()):
        lines.append(
            f"  destruction v{version}: requested by {pending.get('requested_by')}, "
            f"approved by {pending.get('approved_by') or '-'}, "
            f"not before {pending.get('not_before') or '-'}"
        )
    return "\n".join(lines)


@keys.command("show")
@click.argument("key")
@URL
@json_option
def keys_show(key: str, url: str | None) -> None:
    """A key's versions, states, lifecycle settings, destruction records and history."""
    with client(url) as kms:
        record = kms.request("GET", kms.key_url(key_path(key)))
    emit(record, _show(record))


@keys.command("rotate")
@click.argument("key")
@URL
@json_option
def keys_rotate(key: str, url: str | None) -> None:
    """Add a new primary version of KEY."""
    with client(url) as kms:
        record = kms.request("POST", kms.key_url(key_path(key)) + "/rotate")
    emit(record, f"rotated {record['path']} to v{record['primary']}")


@keys.command("update")
@click.argument("key")
@click.option("--enable/--disable", "enabled", default=None, help="The whole key.")
@click.option("--min-decrypt-version", type=click.IntRange(min=1), help="Retire older versions.")
@click.option("--rotation-period", type=click.IntRange(min=1), help="Rotate every N seconds.")
@click.option("--no-rotation", is_flag=True, help="Stop scheduled rotation.")
@URL
@json_option
def keys_update(
    *,
    key: str,
    enabled: bool | None,
    min_decrypt_version: int | None,
    rotation_period: int | None,
    no_rotation: bool,
    url: str | None,
) -> None:
    """Change a key's lifecycle settings (the minimum decryption version only goes up)."""
    if no_rotation and rotation_period:
        raise UsageError("--rotation-period and --no-rotation exclude each other")
    body: dict[str, Any] = {}
    if enabled is not None:
        body["enabled"] = enabled
    if min_decrypt_version is not None:
        body["min_decrypt_version"] = min_decrypt_version
    if rotation_period is not None:
        body["rotation_period"] = rotation_period
    if no_rotation:
        body["clear_rotation"] = True
    if not body:
        raise UsageError("nothing to change: give at least one option")
    with client(url) as kms:
        record = kms.request("PATCH", kms.key_url(key_path(key)), body)
    emit(record, _show(record))


def _version_command(name: str, suffix: str, doc: str) -> click.Command:
    @click.argument("key")
    @VERSION
    @URL
    @json_option
    def command(key: str, version: int, url: str | None) -> None:
        with client(url) as kms:
            record = kms.request(
                "POST", kms.key_url(key_path(key)) + f"/versions/{version}/{suffix}"
            )
        emit(record, _show(record))

    command.__doc__ = doc
    return keys.command(name)(command)


_version_command("enable", "enable", "Enable one version of KEY.")
_version_command("disable", "disable", "Disable one version of KEY (not the primary).")
_version_command(
    "destroy",
    "destroy",
    "Request destruction of a version (officer 1 of 2): unusable at once, erased only after "
    "a second officer approves and the waiting period has passed.",
)
_version_command(
    "approve-destroy",
    "destroy/approve",
    "Approve a requested destruction (officer 2 of 2, never the requester).",
)
_version_command(
    "cancel-destroy", "destroy/cancel", "Cancel a destruction before the material is erased."
)


@keys.command("public-key")
@click.argument("key")
@click.option("--version", type=click.IntRange(min=1), help="Default: the primary.")
@click.option("-o", "--out", "out", type=FILE, default="-", help="PEM (default stdout).")
@URL
@json_option
def keys_public_key(key: str, version: int | None, out: Path, url: str | None) -> None:
    """The SM2 public key of a service-held key."""
    with client(url) as kms:
        params = {"version": version} if version else None
        result = kms.request("GET", kms.key_url(key_path(key)) + "/public-key", params=params)
    write(out, result["public_key"].encode())
    if str(out) != "-":
        emit(result, f"{result['key_id']}  {result['fingerprint']}")


@keys.command("export")
@click.argument("key")
@click.option(
    "--to", "recipient", type=FILE, required=True, help="SM2 public key (PEM) to encrypt to."
)
@click.option("-o", "--out", "out", type=FILE, required=True, help="SM2 ciphertext (GM/T 0009).")
@click.option("--version", type=click.IntRange(min=1), help="Default: the primary.")
@URL
@json_option
def keys_export(key: str, recipient: Path, out: Path, version: int | None, url: str | None) -> None:
    """Export an exportable key's material, SM2-encrypted to --to (never in clear); exit 8 for a
    non-exportable key (the default)."""
    pem = read(recipient)
    SM2PublicKey.from_pem(pem)  # a clear local error before anything is sent
    body: dict[str, Any] = {"public_key": pem.decode()}
    if version is not None:
        body["version"] = version
    with client(url) as kms:
        result = kms.request("POST", kms.key_url(key_path(key)) + "/export", body)
    write(out, unb64(result["wrapped"], "wrapped"))
    emit(
        {k: v for k, v in result.items() if k != "wrapped"},
        f"exported {result['key_id']} ({result['type']}) encrypted to {recipient}",
    )


@keys.command("import")
@click.argument("key")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["sm4", "sm2", "hmac-sm3"]),
    required=True,
)
@click.option(
    "-i",
    "--in",
    "src",
    type=FILE,
    required=True,
    help="sm4: 16 raw bytes; hmac-sm3: 32 raw bytes; sm2: a PEM or DER private key.",
)
@click.option(
    "--passphrase-env", help="Environment variable holding the SM2 key file's passphrase."
)
@click.option("--exportable", is_flag=True)
@URL
@json_option
def keys_import(
    *,
    key: str,
    key_type: str,
    src: Path,
    passphrase_env: str | None,
    exportable: bool,
    url: str | None,
) -> None:
    """Bring existing key material into the service, encrypted here to its import key."""
    material = read(src)
    if key_type == "sm2":
        password = None
        if passphrase_env:
            value = os.environ.get(passphrase_env)
            if not value:
                raise UsageError(f"environment variable {passphrase_env} is not set")
            password = value.encode()
        private = (
            SM2PrivateKey.from_pem(material, password)
            if material.lstrip().startswith(b"-----BEGIN")
            else SM2PrivateKey.from_der(material, password)
        )
        material = private.to_der()
    tenant, ring, name = key_path(key).split("/")
    with client(url) as kms:
        import_key = SM2PublicKey.from_pem(
            kms.request("GET", "/v1/import-key")["public_key"].encode()
        )
        record = kms.request(
            "POST",
            f"/v1/tenants/{tenant}/rings/{ring}/keys/import",
            {
                "name": name,
                "type": key_type,
                "wrapped": b64(import_key.encrypt(material)),
                "exportable": exportable,
            },
        )
    emit(record, f"imported {record['path']}@v1 ({key_type})")
