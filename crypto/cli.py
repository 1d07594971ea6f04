"""The ``tulou crypto`` command group: keys, signatures, SM2 encryption, envelopes, key store.

Keys are named either as a file (PEM or DER; an encrypted one needs ``--passphrase-env``) or
as ``store:NAME[@vN]``, a key in the key store under ``<data_dir>/keys`` opened with
``TULOU_MASTER_PASSPHRASE``. Secrets are never read from the command line: passphrases come
from the environment (``--passphrase-env VAR`` names the variable).

Exit codes: 0 ok; 2 usage; 4 unreadable input; 5 verification failed (bad signature, wrong
key, tampered data, replay); 6 key not found. A failure prints one line: ``tulou: error: ...``.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import click
from rich.console import Console
from rich.progress import Progress

from crypto import envelope
from crypto.filekeystore import FileKeyStore
from crypto.keystore import KeyDecrypter, KeySigner, KeyStore
from crypto.keystores import open_keystore
from crypto.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey
from crypto.sm3 import PBKDF2_ITERATIONS
from tulou.clikit import app, emit, json_option, stderr_is_tty
from tulou.errors import ConfigError, InputError, UsageError

_IN = click.Path(dir_okay=False, path_type=Path, allow_dash=True)
_OUT = click.Path(dir_okay=False, path_type=Path, allow_dash=True)
#: Show a progress bar for inputs at least this big (when stderr is a terminal).
_PROGRESS_FROM = 64 << 20


def _read(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write atomically (temp file + rename), so a failure never leaves partial output."""
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _env_secret(var: str | None) -> bytes | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"environment variable {var} is not set")
    return value.encode()


def _store() -> KeyStore:
    kms_url = os.environ.get("TULOU_KMS_URL")
    if kms_url:  # store: references name keys of the crypto service (docs/crypto.md)
        return open_keystore(kms_url if kms_url.startswith("kms:") else f"kms:{kms_url}")
    settings = app().settings
    secret = settings.master_passphrase
    return open_keystore(
        f"file:{settings.path('keys')}", secret.get_secret_value().encode() if secret else None
    )


def _key_file(path: str, passphrase_env: str | None) -> SM2PrivateKey:
    data = _read(Path(path))
    password = _env_secret(passphrase_env)
    if data.lstrip().startswith(b"-----BEGIN"):
        return SM2PrivateKey.from_pem(data, password)
    return SM2PrivateKey.from_der(data, password)


def _signer(
    ref: str, passphrase_env: str | None, purpose: str
) -> tuple[SM2PrivateKey | KeySigner, str | None]:
    """A key file, or an audited key store signer (and its key id)."""
    if ref.startswith("store:"):
        signer = _store().signer(ref[6:], purpose=purpose)
        return signer, signer.info.key_id
    return _key_file(ref, passphrase_env), None


def _decrypter(
    ref: str, passphrase_env: str | None, purpose: str
) -> tuple[SM2PrivateKey | KeyDecrypter, str | None]:
    if ref.startswith("store:"):
        decrypter = _store().decrypter(ref[6:], purpose=purpose)
        return decrypter, decrypter.info.key_id
    return _key_file(ref, passphrase_env), None


def _public(ref: str) -> SM2PublicKey:
    if ref.startswith("store:"):
        return _store().public_key(ref[6:])
    data = _read(Path(ref))
    if b"PRIVATE KEY" in data:
        raise UsageError(f"{ref} is a private key; give the public key file")
    if data.lstrip().startswith(b"-----BEGIN"):
        return SM2PublicKey.from_pem(data)
    return SM2PublicKey.from_der(data)


def _uid(uid: str | None) -> bytes:
    return DEFAULT_UID if uid is None else uid.encode()


_KEY = click.option("--key", "key_ref", required=True, help="Private key file or store:NAME.")
_PASS = click.option(
    "--passphrase-env", metavar="VAR", help="Environment variable holding the key passphrase."
)
_UID = click.option("--uid", help="SM2 distinguishing ID (default 1234567812345678).")


@click.group()
def crypto() -> None:
    """Commercial cryptography: SM2, SM3, SM4 on native backends, the key store and the envelope."""


@crypto.command()
@click.option("-o", "--out", "out", type=_OUT, required=True, help="Private key output file.")
@click.option("--pubout", type=_OUT, help="Also write the public key here.")
@click.option("--der", is_flag=True, help="DER instead of PEM.")
@_PASS
@json_option
def keygen(out: Path, pubout: Path | None, der: bool, passphrase_env: str | None) -> None:
    """Generate an SM2 key pair (PKCS#8; encrypted when --passphrase-env is given)."""
    key = SM2PrivateKey.generate()
    password = _env_secret(passphrase_env)
    _write(out, key.to_der(password) if der else key.to_pem(password), private=True)
    pub = key.public_key()
    if pubout is not None:
        _write(pubout, pub.to_der() if der else pub.to_pem())
    emit({"ok": True, "fingerprint": pub.fingerprint()}, f"SM2 key {pub.fingerprint()[:16]}")


@crypto.command()
@click.argument("key_ref")
@click.option("-o", "--out", "out", type=_OUT, default="-", help="Output file (default stdout).")
@click.option("--der", is_flag=True, help="DER instead of PEM.")
@_PASS
def pubkey(key_ref: str, out: Path, der: bool, passphrase_env: str | None) -> None:
    """Export the public key (SubjectPublicKeyInfo) of a private key or a stored key."""
    if key_ref.startswith("store:"):
        pub = _store().public_key(key_ref[6:])
    else:
        pub = _key_file(key_ref, passphrase_env).public_key()
    _write(out, pub.to_der() if der else pub.to_pem())


@crypto.command()
@_KEY
@_PASS
@_UID
@click.option("-i", "--in", "src", type=_IN, required=True, help="Data to sign.")
@click.option("-o", "--out", "out", type=_OUT, required=True, help="Signature output file.")
@click.option("--raw", is_flag=True, help="64-byte r||s instead of DER.")
@json_option
def sign(
    *, key_ref: str, passphrase_env: str | None, uid: str | None, src: Path, out: Path, raw: bool
) -> None:
    """Sign a file with SM2/SM3 (Z over the distinguishing ID)."""
    signer, _ = _signer(key_ref, passphrase_env, "cli sign")
    data = _read(src)
    signature = signer.sign_raw(data, uid=_uid(uid)) if raw else signer.sign(data, uid=_uid(uid))
    _write(out, signature)
    emit({"ok": True, "bytes": len(signature)}, f"signed {len(data)} bytes")


@crypto.command()
@click.option("--pub", "pub_ref", required=True, help="Public key file or store:NAME[@vN].")
@_UID
@click.option("-i", "--in", "src", type=_IN, required=True, help="Signed data.")
@click.option("-s", "--signature", type=_IN, required=True, help="Signature file (DER or raw).")
@click.option("--raw", is_flag=True, help="The signature is 64-byte r||s (default: DER).")
@json_option
def verify(*, pub_ref: str, uid: str | None, src: Path, signature: Path, raw: bool) -> None:
    """Verify an SM2 signature; exit 5 if it does not verify."""
    sig = _read(signature)
    pub = _public(pub_ref)
    if raw:
        pub.verify_raw(sig, _read(src), uid=_uid(uid))
    else:
        pub.verify(sig, _read(src), uid=_uid(uid))
    emit({"ok": True, "verified": True}, "signature OK")


@crypto.command()
@click.option("--pub", "pub_ref", required=True, help="Recipient public key file or store:NAME.")
@click.option("-i", "--in", "src", type=_IN, required=True)
@click.option("-o", "--out", "out", type=_OUT, required=True)
@json_option
def encrypt(pub_ref: str, src: Path, out: Path) -> None:
    """SM2-encrypt a (small) file: GM/T 0009 C1C3C2 DER. Use seal for bulk data."""
    ciphertext = _public(pub_ref).encrypt(_read(src))
    _write(out, ciphertext)
    if str(out) != "-":
        emit({"ok": True, "bytes": len(ciphertext)}, f"encrypted to {len(ciphertext)} bytes")


@crypto.command()
@_KEY
@_PASS
@click.option("-i", "--in", "src", type=_IN, required=True)
@click.option("-o", "--out", "out", type=_OUT, required=True)
@json_option
def decrypt(key_ref: str, passphrase_env: str | None, src: Path, out: Path) -> None:
    """SM2-decrypt a file; exit 5 on a wrong key or tampered ciphertext (C3 is checked)."""
    decrypter, _ = _decrypter(key_ref, passphrase_env, "cli decrypt")
    plaintext = decrypter.decrypt(_read(src))
    _write(out, plaintext, private=True)
    if str(out) != "-":
        emit({"ok": True, "bytes": len(plaintext)}, f"decrypted {len(plaintext)} bytes")


def _pairs(values: tuple[str, ...], what: str) -> list[tuple[str, SM2PublicKey]]:
    out = []
    for value in values:
        if value.startswith("store:"):
            name = value[6:]
            store = _store()
            out.append((store.info(name).key_id, store.public_key(name)))
            continue
        key_id, sep, path = value.partition("=")
        if not sep:
            raise UsageError(f"{what} must be KEY_ID=PUBFILE or store:NAME, got {value!r}")
        out.append((key_id, _public(path)))
    return out


@contextlib.contextmanager
def _source(path: Path) -> Iterator[BinaryIO]:
    """Open an input for streaming, with a progress bar for big files on a terminal."""
    if str(path) == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size < _PROGRESS_FROM or not stderr_is_tty():
            yield handle
            return
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(path.name, total=size)
            yield cast(BinaryIO, _ProgressReader(handle, lambda n: progress.advance(task, n)))


class _ProgressReader(io.RawIOBase):
    def __init__(self, inner: BinaryIO, advance: Callable[[int], None]) -> None:
        self._inner, self._advance = inner, advance

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._advance(len(data))
        return data


@contextlib.contextmanager
def _sink(path: Path, *, private: bool) -> Iterator[BinaryIO]:
    """A temporary file renamed onto ``path`` only if the block succeeds (else removed).

    For stdout (``-``) the output is held in memory and written only on success, so nothing
    unverified ever reaches a pipe.
    """
    if str(path) == "-":
        buffer = io.BytesIO()
        yield buffer
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@crypto.command("seal")
@_KEY
@_PASS
@click.option("--sender-id", help="Sender key id (default: the store key id, or 'sender').")
@click.option("--to", "recipients", multiple=True, required=True, help="ID=PUBFILE or store:NAME.")
@click.option("--content-type", default="application/octet-stream", show_default=True)
@click.option("-i", "--in", "src", type=_IN, required=True)
@click.option("-o", "--out", "out", type=_OUT, required=True)
@json_option
def seal_cmd(
    *,
    key_ref: str,
    passphrase_env: str | None,
    sender_id: str | None,
    recipients: tuple[str, ...],
    content_type: str,
    src: Path,
    out: Path,
) -> None:
    """Seal a file in an envelope: SM4-GCM, key wrapped per recipient, SM2-signed (streams)."""
    signer, key_id = _signer(key_ref, passphrase_env, "cli seal")
    ident = sender_id or key_id or "sender"
    to = _pairs(recipients, "--to")
    with _source(src) as reader, _sink(out, private=False) as writer:
        size = envelope.seal_stream(
            reader,
            writer,
            sender=signer,
            sender_id=ident,
            recipients=to,
            content_type=content_type,
        )
    emit({"ok": True, "payload_bytes": size, "sender_id": ident}, f"sealed {size} bytes")


@crypto.command("open")
@_KEY
@_PASS
@click.option("--recipient-id", help="Our key id in the envelope (default: the store key id).")
@click.option(
    "--trust", multiple=True, required=True, help="Trusted sender ID=PUBFILE or store:NAME."
)
@click.option("-i", "--in", "src", type=_IN, required=True)
@click.option("-o", "--out", "out", type=_OUT, required=True)
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    help="Refuse envelopes created more than this many seconds ago (or ahead).",
)
@json_option
def open_cmd(
    *,
    key_ref: str,
    passphrase_env: str | None,
    recipient_id: str | None,
    trust: tuple[str, ...],
    src: Path,
    out: Path,
    max_age: float | None,
) -> None:
    """Verify and open an envelope; exit 5 if the sender, signature or content do not verify.

    Output appears only once everything verified (a temporary file is renamed on success).
    """
    decrypter, key_id = _decrypter(key_ref, passphrase_env, "cli open")
    ident = recipient_id or key_id
    if ident is None:
        raise UsageError("--recipient-id is required with a key file")
    trusted = dict(_pairs(trust, "--trust"))
    with _source(src) as reader, _sink(out, private=True) as writer:
        opened = envelope.open_stream(
            reader,
            writer,
            recipient_id=ident,
            decrypter=decrypter,
            trusted_senders=trusted,
            replay=None if max_age is None else envelope.MemoryReplayGuard(window=max_age),
        )
    emit(
        {
            "ok": True,
            "sender_id": opened.sender_id,
            "message_id": opened.message_id,
            "created_ms": opened.created_ms,
            "content_type": opened.content_type,
        },
        f"opened message {opened.message_id} from {opened.sender_id}",
    )


@crypto.group()
def keys() -> None:
    """The key store under <data_dir>/keys (passphrase: TULOU_MASTER_PASSPHRASE)."""


@keys.command("init")
@click.option(
    "--iterations",
    type=click.IntRange(min=1000),
    default=PBKDF2_ITERATIONS,
    show_default=True,
    help="PBKDF2-HMAC-SM3 iterations for the master key.",
)
@json_option
def keys_init(iterations: int) -> None:
    """Create an empty key store."""
    settings = app().settings
    if settings.master_passphrase is None:
        raise ConfigError("set TULOU_MASTER_PASSPHRASE to create the key store")
    secret = settings.master_passphrase.get_secret_value().encode()
    store = FileKeyStore.init(settings.path("keys"), secret, iterations=iterations)
    emit({"ok": True, "path": str(store.root)}, f"key store created at {store.root}")


@keys.command("create")
@click.argument("name")
@json_option
def keys_create(name: str) -> None:
    """Generate a new SM2 key NAME (version 1)."""
    info = _store().create(name)
    emit(info.to_dict(), f"created {info.key_id} {info.fingerprint[:16]}")


@keys.command("list")
@json_option
def keys_list() -> None:
    """List keys and versions (active = the newest)."""
    infos = _store().list()
    emit(
        [i.to_dict() for i in infos],
        "\n".join(
            f"{i.key_id:24} {'active ' if i.active else 'retired'} {i.fingerprint[:16]} {i.created}"
            for i in infos
        )
        or "no keys",
    )


@keys.command("rotate")
@click.argument("name")
@json_option
def keys_rotate(name: str) -> None:
    """Add a new version of NAME; older versions stay for verify/decrypt only."""
    info = _store().rotate(name)
    emit(info.to_dict(), f"rotated to {info.key_id}")


def _add_remote() -> None:
    from crypto.service.remote_cli import remote  # noqa: PLC0415 - keeps the module graph small

    crypto.add_command(remote)


_add_remote()


@crypto.command("serve")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path, exists=True),
    required=True,
    help="The service configuration (TOML; docs/crypto.md, 'Running the service').",
)
@click.option("--host", help="Listen address (default: the config's host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Listen port (default: the config's).")
def serve_cmd(config_path: Path, host: str | None, port: int | None) -> None:
    """Run the crypto service platform: keys, data protection, signatures, CA, timestamps."""
    from crypto.service.app import open_service  # noqa: PLC0415 - FastAPI only when serving
    from crypto.service.config import load_config  # noqa: PLC0415
    from crypto.service.server import serve  # noqa: PLC0415

    service = open_service(load_config(config_path))
    try:
        serve(service, host=host, port=port)
    finally:
        service.close()
