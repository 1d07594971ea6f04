"""``tulou crypto remote ...``: the crypto service from the command line.

The service is ``--url`` or ``TULOU_KMS_URL``; the token comes from ``TULOU_KMS_TOKEN`` (never
argv); ``TULOU_KMS_CA`` / ``TULOU_KMS_CLIENT_CERT`` / ``TULOU_KMS_CLIENT_KEY`` for TLS and mTLS.
KEY is ``tenant/ring/key``. Refusals exit with the code of their error (``tulou exit-codes``:
5 verification, 6 unknown key, 8 denied, 7 unavailable...), printing the service's code.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from crypto.service.client import KmsClient
from tulou.clikit import emit, json_option
from tulou.errors import InputError, UsageError

_FILE = click.Path(dir_okay=False, path_type=Path, allow_dash=True)


def _client(url: str | None) -> KmsClient:
    base = url or os.environ.get("TULOU_KMS_URL", "")
    base = base.removeprefix("kms:")
    if not base:
        raise UsageError("give --url or set TULOU_KMS_URL (the crypto service)")
    base = "/".join(base.split("/")[:3])  # a kms: store URL also names tenant/ring: drop them
    cert, key, ca = (
        os.environ.get(v) for v in ("TULOU_KMS_CLIENT_CERT", "TULOU_KMS_CLIENT_KEY", "TULOU_KMS_CA")
    )
    return KmsClient(
        base,
        os.environ.get("TULOU_KMS_TOKEN"),
        ca=Path(ca) if ca else None,
        client_cert=(Path(cert), Path(key)) if cert and key else None,
    )


def _read(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _write(path: Path, data: bytes) -> None:
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _context(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--context takes KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


_URL = click.option("--url", help="The crypto service (default TULOU_KMS_URL).")
_CTX = click.option("--context", "context", multiple=True, help="Encryption context KEY=VALUE.")


@click.group()
def remote() -> None:
    """Use the crypto service platform: keys, data protection, signatures, certificates."""


@remote.command("encrypt")
@click.argument("key")
@click.option("-i", "--in", "src", type=_FILE, required=True)
@click.option("-o", "--out", "out", type=_FILE, required=True, help="Ciphertext (binary).")
@_CTX
@_URL
@json_option
def encrypt(key: str, src: Path, out: Path, context: tuple[str, ...], url: str | None) -> None:
    """SM4-GCM encrypt a (small) file under KEY; the context is bound as AAD."""
    with _client(url) as client:
        result = client.encrypt(key, _read(src), _context(context))
    _write(out, base64.b64decode(result["ciphertext"]))
    emit({"ok": True, "key_id": result["key_id"]}, f"encrypted under {result['key_id']}")


@remote.command("decrypt")
@click.argument("key")
@click.option("-i", "--in", "src", type=_FILE, required=True)
@click.option("-o", "--out", "out", type=_FILE, required=True)
@_CTX
@_URL
@json_option
def decrypt(key: str, src: Path, out: Path, context: tuple[str, ...], url: str | None) -> None:
    """Decrypt a ciphertext of KEY (exit 5 if tampered or the context differs)."""
    with _client(url) as client:
        plaintext = client.decrypt(key, base64.b64encode(_read(src)).decode(), _context(context))
    _write(out, plaintext)
    if str(out) != "-":
        emit({"ok": True, "bytes": len(plaintext)}, f"decrypted {len(plaintext)} bytes")


@remote.command("sign")
@click.argument("key")
@click.option("-i", "--in", "src", type=_FILE, required=True)
@click.option("-o", "--out", "out", type=_FILE, required=True, help="DER signature.")
@click.option("--uid", help="SM2 distinguishing ID (default 1234567812345678).")
@_URL
@json_option
def sign(key: str, src: Path, out: Path, uid: str | None, url: str | None) -> None:
    """SM2-sign a file with a key held by the service."""
    with _client(url) as client:
        result = client.sign(key, _read(src), uid=uid)
    _write(out, base64.b64decode(result["signature"]))
    emit({"ok": True, "key_id": result["key_id"]}, f"signed with {result['key_id']}")


@remote.command("verify")
@click.argument("key")
@click.option("-i", "--in", "src", type=_FILE, required=True)
@click.option("-s", "--signature", type=_FILE, required=True)
@click.option("--uid")
@click.option("--version", type=click.IntRange(min=1), help="Key version (default primary).")
@_URL
@json_option
def verify(
    *, key: str, src: Path, signature: Path, uid: str | None, version: int | None, url: str | None
) -> None:
    """Verify an SM2 signature with the service; exit 5 if it does not verify."""
    with _client(url) as client:
        result = client.verify(
            key, _read(src), base64.b64encode(_read(signature)).decode(), version=version, uid=uid
        )
    emit({"ok": True, **result}, f"signature OK ({result['key_id']})")


@remote.command("data-key")
@click.argument("key")
@click.option("-o", "--out", "out", type=_FILE, required=True, help="Wrapped data key (binary).")
@_CTX
@_URL
def data_key(key: str, out: Path, context: tuple[str, ...], url: str | None) -> None:
    """Generate a data key: write the wrapped key; print the plaintext key as JSON on stdout."""
    with _client(url) as client:
        result = client.request(
            "POST", client.key_url(key) + "/generate-data-key", {"context": _context(context)}
        )
    _write(out, base64.b64decode(result["ciphertext"]))
    click.echo(json.dumps({"key_id": result["key_id"], "plaintext": result["plaintext"]}))


@remote.group("keys")
def keys() -> None:
    """Keys of the service."""


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
@_URL
@json_option
def keys_create(
    key: str, key_type: str, rotation_period: int | None, exportable: bool, url: str | None
) -> None:
    """Create KEY (tenant/ring/key) inside the service."""
    options: dict[str, Any] = {"exportable": exportable}
    if rotation_period:
        options["rotation_period"] = rotation_period
    with _client(url) as client:
        record = client.create_key(key, key_type, **options)
    emit(record, f"created {record['path']}@v1 ({key_type})")


@keys.command("show")
@click.argument("key")
@_URL
@json_option
def keys_show(key: str, url: str | None) -> None:
    """A key's versions, states, lifecycle settings and history."""
    with _client(url) as client:
        record = client.request("GET", client.key_url(key))
    lines = [
        f"{record['path']}  {record['type']}  primary v{record['primary']}  "
        f"{'enabled' if record['enabled'] else 'DISABLED'}  "
        f"min decrypt v{record['min_decrypt_version']}"
    ]
    lines += [f"  v{v['version']:<4} {v['state']:16} {v['created']}" for v in record["versions"]]
    emit(record, "\n".join(lines))


@keys.command("rotate")
@click.argument("key")
@_URL
@json_option
def keys_rotate(key: str, url: str | None) -> None:
    """Add a new primary version of KEY."""
    with _client(url) as client:
        record = client.request("POST", client.key_url(key) + "/rotate")
    emit(record, f"rotated {record['path']} to v{record['primary']}")


@remote.command("timestamp")
@click.option("-i", "--in", "src", type=_FILE, required=True, help="Data to timestamp.")
@click.option("-o", "--out", "out", type=_FILE, required=True, help="RFC 3161 TimeStampResp (DER).")
@click.option(
    "--profile", type=click.Choice(["gmt0033", "openssl"]), default="gmt0033", show_default=True
)
@_URL
@json_option
def timestamp(src: Path, out: Path, profile: str, url: str | None) -> None:
    """An SM2/SM3 RFC 3161 timestamp of a file (SM3 imprint)."""
    from crypto.service import tsa  # noqa: PLC0415
    from crypto.sm3 import sm3  # noqa: PLC0415

    with _client(url) as client:
        reply = client.raw(
            "POST", "/v1/timestamp", tsa.request(sm3(_read(src))), params={"profile": profile}
        )
    verified = tsa.verify(reply, data=_read(src))
    _write(out, reply)
    emit(
        {"ok": True, "serial": f"{verified.serial:x}", "gen_time": verified.gen_time.isoformat()},
        f"timestamp {verified.serial:x} at {verified.gen_time.isoformat()}",
    )
