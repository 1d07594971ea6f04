"""A department's secrets at rest: its key share (and, between ceremony rounds, its state).

The file is JSON::

    {"format": "tulou-he-secret", "format_version": 1, "kind": "key-share" | "keygen-state",
     "keyset": id, "party": name, "kdf": {"name": "pbkdf2-hmac-sm3", "salt": hex16,
     "iterations": N}, "sealed": base64(sm4.seal(K, container, aad))}

K = PBKDF2-HMAC-SM3(passphrase, salt, N, 16 bytes); aad = the canonical JSON of every field
but ``sealed`` (so kind, key set and party cannot be swapped). The container inside is the
key share of :mod:`crypto.he.keygen`. Written atomically (temporary file in the same
directory, fsync, rename, fsync of the directory), mode 0600. The passphrase comes from an
environment variable, never argv. A share never leaves this file except as partial
decryptions.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from crypto import sm4
from crypto.he.container import Container, canonical, decode
from crypto.sm3 import PBKDF2_ITERATIONS, pbkdf2_sm3
from tulou.errors import InputError, VerificationError

KINDS = ("key-share", "keygen-state")


def write_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save(
    path: Path, secret: Container, passphrase: bytes, *, iterations: int = PBKDF2_ITERATIONS
) -> None:
    if secret.kind not in KINDS:
        raise InputError(f"not a department secret: {secret.kind}")
    salt = secrets.token_bytes(16)
    meta = {
        "format": "tulou-he-secret",
        "format_version": 1,
        "kind": secret.kind,
        "keyset": secret.keyset,
        "party": secret.header.get("party"),
        "kdf": {"name": "pbkdf2-hmac-sm3", "salt": salt.hex(), "iterations": iterations},
    }
    key = pbkdf2_sm3(passphrase, salt, iterations=iterations)
    sealed = sm4.seal(key, secret.encode(), aad=canonical(meta))
    write_atomic(path, json.dumps({**meta, "sealed": base64.b64encode(sealed).decode()}).encode())


def load(path: Path, passphrase: bytes, *, kind: str) -> Container:
    try:
        raw = json.loads(Path(path).read_bytes())
        meta = {k: v for k, v in raw.items() if k != "sealed"}
        kdf = raw["kdf"]
        sealed = base64.b64decode(raw["sealed"], validate=True)
        salt, iterations = bytes.fromhex(kdf["salt"]), int(kdf["iterations"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a department secret file ({exc})") from None
    if raw.get("format") != "tulou-he-secret" or raw.get("kind") != kind:
        raise InputError(f"{path}: not a {kind} file")
    key = pbkdf2_sm3(passphrase, salt, iterations=iterations)
    try:
        data = sm4.open(key, sealed, aad=canonical(meta))
    except VerificationError:
        raise VerificationError(f"{path}: wrong passphrase or tampered file") from None
    secret = decode(data, kind=kind, keyset=str(raw["keyset"]))
    if secret.header.get("party") != raw.get("party"):
        raise VerificationError(f"{path}: the sealed secret is not {raw.get('party')}'s")
    return secret
