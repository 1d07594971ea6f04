"""What the ``tulou crypto remote`` commands share: the client, files, options.

The service is ``--url`` or ``TULOU_KMS_URL``; the token comes from ``TULOU_KMS_TOKEN`` (never
argv); ``TULOU_KMS_CA`` / ``TULOU_KMS_CLIENT_CERT`` / ``TULOU_KMS_CLIENT_KEY`` for TLS and mTLS.
Output files are written whole or not at all (a 0600 temporary file renamed into place), and
only after the service answered: a refused operation leaves no output behind.
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
from pathlib import Path

import click

from crypto.service.client import KmsClient
from tulou.errors import InputError, UsageError

FILE = click.Path(dir_okay=False, path_type=Path, allow_dash=True)
URL = click.option("--url", help="The crypto service (default TULOU_KMS_URL).")
CONTEXT = click.option(
    "--context", "context", multiple=True, help="Encryption context KEY=VALUE (repeatable)."
)
VERSION = click.option("--version", "version", type=click.IntRange(min=1), required=True)


def client(url: str | None) -> KmsClient:
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


def key_path(text: str) -> str:
    """A key argument: exactly ``tenant/ring/key``."""
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"KEY is tenant/ring/key, got {text!r}")
    return text


def read(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def write(path: Path, data: bytes) -> None:
    """Write ``data`` whole or not at all (``-`` is stdout)."""
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def parse_context(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--context takes KEY=VALUE, got {pair!r}")
        if key in out:
            raise UsageError(f"--context {key} given twice")
        out[key] = value
    return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: the service answered invalid base64") from None
