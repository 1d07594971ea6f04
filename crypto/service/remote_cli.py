"""``tulou crypto remote ...``: every operation of the crypto service from the command line.

This module holds the data operations (encrypt, decrypt, rewrap, data keys, HMAC-SM3, SM2
sign/verify, batch, timestamps); :mod:`crypto.service.remote_keys` the tenants, rings, keys and
their lifecycle; :mod:`crypto.service.remote_pki` the city CA, certificates and CMS. KEY is
``tenant/ring/key``. Refusals exit with the code of their error (``tulou exit-codes``: 5
verification, 6 unknown key, 8 denied, 7 unavailable...), printing the service's code; a
refused operation writes no output file.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crypto.service.errors import ServiceError
from crypto.service.remote_common import (
    CONTEXT,
    FILE,
    URL,
    b64,
    client,
    key_path,
    parse_context,
    read,
    unb64,
    write,
)
from tulou.clikit import app, emit, json_option
from tulou.errors import InputError, UsageError, VerificationError


@click.group()
def remote() -> None:
    """Use the crypto service platform: keys, data protection, signatures, certificates."""


@remote.command("encrypt")
@click.argument("key")
@click.option("-i", "--in", "src", type=FILE, required=True)
@click.option("-o", "--out", "out", type=FILE, required=True, help="Ciphertext (binary).")
@CONTEXT
@URL
@json_option
def encrypt(key: str, src: Path, out: Path, context: tuple[str, ...], url: str | None) -> None:
    """SM4-GCM encrypt a (small) file under KEY; the context is bound as AAD."""
    with client(url) as kms:
        result = kms.encrypt(key_path(key), read(src), parse_context(context))
    write(out, unb64(result["ciphertext"], "ciphertext"))
    emit({"ok": True, "key_id": result["key_id"]}, f"encrypted under {result['key_id']}")


@remote.command("decrypt")
@click.argument("key")
@click.option("-i", "--in", "src", type=FILE, required=True)
@click.option("-o", "--out", "out", type=FILE, required=True)
@CONTEXT
@click.option("--version", type=click.IntRange(min=1), help="SM2 keys: the key version.")
@URL
@json_option
def decrypt(
    *,
    key: str,
    src: Path,
    out: Path,
    context: tuple[str, ...],
    version: int | None,
    url: str | None,
) -> None:
    """Decrypt a ciphertext of KEY (SM4: this service's format; SM2: GM/T 0009); exit 5 if
    tampered or the context differs."""
    body: dict[str, Any] = {"ciphertext": b64(read(src)), "context": parse_context(context)}
    if version is not None:
        body["version"] = version
    with client(url) as kms:
        result = kms.request("POST", kms.key_url(key_path(key)) + "/decrypt", body)
    plaintext = unb64(result["plaintext"], "plaintext")
    write(out, plaintext)
    if str(out) != "-":
        emit(
            {"ok": True, "bytes": len(plaintext), "key_id": result.get("key_id")},
            f"decrypted {len(plaintext)} bytes",
        )


@remote.command("rewrap")
@click.argument("key")
@click.option("-i", "--in", "src", type=FILE, required=True, help="Ciphertext of KEY.")
@click.option("-o", "--out", "out", type=FILE, required=True, help="Ciphertext, newest version.")
@CONTEXT
@URL
@json_option
def rewrap(key: str, src: Path, out: Path, context: tuple[str, ...], url: str | None) -> None:
    """Re-encrypt a ciphertext under KEY's newest version inside the service (no plaintext
    leaves it)."""
    with client(url) as kms:
        result = kms.request(
            "POST",
            kms.key_url(key_path(key)) + "/rewrap",
            {"ciphertext": b64(read(src)), "context": parse_context(context)},
        )
    write(out, unb64(result["ciphertext"], "ciphertext"))
    emit(
        {"ok": True, "key_id": result["key_id"], "from_version": result["from_version"]},
        f"rewrapped v{result['from_version']} to {result['key_id']}",
    )


@remote.command("data-key")
@click.argument("key")
@click.option("-o", "--out", "out", type=FILE, required=True, help="Wrapped data key (binary).")
@click.option(
    "--no-plaintext", is_flag=True, help="Only the wrapped key (decrypt it when it is needed)."
)
@CONTEXT
@URL
def data_key(
    key: str, out: Path, no_plaintext: bool, context: tuple[str, ...], url: str | None
) -> None:
    """Generate a 16-byte SM4 data key: write the wrapped key to OUT; print the plaintext key
    as JSON on stdout (base64), for envelope encryption by the caller."""
    with client(url) as kms:
        result = kms.request(
            "POST",
            kms.key_url(key_path(key)) + "/generate-data-key",
            {"context": parse_context(context), "include_plaintext": not no_plaintext},
        )
    write(out, unb64(result["ciphertext"], "ciphertext"))
    shown = {"key_id": result["key_id"]}
    if not no_plaintext:
        shown["plaintext"] = result["plaintext"]
    click.echo(json.dumps(shown))


@remote.command("mac")
@click.argument("key")
@click.option("-i", "--in", "src", type=FILE, required=True)
@click.option(
    "-o", "--out", "out", type=FILE, required=True, help="Tag (binary, names the version)."
)
@URL
@json_option
def mac(key: str, src: Path, out: Path, url: str | None) -> None:
    """HMAC-SM3 tag of a file with an hmac-sm3 KEY (GB/T 39786 storage integrity)."""
    with client(url) as kms:
        result = kms.request("POST", kms.key_url(key_path(key)) + "/mac", {"data": b64(read(src))})
    write(out, unb64(result["mac"], "mac"))
    emit({"ok": True, "key_id": result["key_id"]}, f"tagged with {result['key_id']}")


@remote.command("mac-verify")
@click.argument("key")
@click.option("-i", "--in", "src", type=FILE, required=True)
@click.option("-t", "--tag", type=FILE, required=True, help="Tag written by 'remote mac'.")
@URL
@json_option
def mac_verify(key: str, src: Path, tag: Path, url: str | None) -> None:
    """Check an HMAC-SM3 tag; exit 5 if the data or the tag changed."""
    with client(url) as kms:
        result = kms.request(
            "POST",
            kms.key_url(key_path(key)) + "/mac-verify",
            {"data": b64(read(src)), "mac": b64(read(tag))},
        )
    emit({"ok": True, **result}, f"tag OK ({result.get('key_id', key)})")


def _sign_body(src: Path | None, digest: str | None, uid: str | None, raw: bool) -> dict[str, Any]:
    if (src is None) == (digest is None):
        raise UsageError("give exactly one of -i FILE or --digest HEX")
    body: dict[str, Any] = {"form": "raw" if raw else "der"}
    if digest is not None:
        try:
            value = bytes.fromhex(digest)
        except ValueError:
            raise UsageError("--digest is 64 hex digits (e = SM3(Z || M))") from None
        if len(value) != 32:
            raise UsageError("--digest is 64 hex digits (e = SM3(Z || M))")
        if uid is not None:
            raise UsageError("--uid goes with -i (a digest already contains Z)")
        body["digest"] = b64(value)
    else:
        assert src is not None
        body["data"] = b64(read(src))
        if uid is not None:
            body["uid"] = uid
    return body


_SIGN_INPUT = [
    click.option("-i", "--in", "src", type=FILE, help="The message (Z over --uid is computed)."),
    click.option("--digest", help="Or the 32-byte digest e = SM3(Z || M), in hex."),
    click.option("--uid", help="SM2 distinguishing ID (default 1234567812345678)."),
    click.option("--raw", is_flag=True, help="r || s (64 bytes) instead of DER."),
]


def _sign_input[F: Callable[..., Any]](func: F) -> F:
    for option in reversed(_SIGN_INPUT):
        func = option(func)
    return func


@remote.command("sign")
@click.argument("key")
@_sign_input
@click.option("-o", "--out", "out", type=FILE, required=True, help="Signature (binary).")
@URL
@json_option
def sign(
    *,
    key: str,
    src: Path | None,
    digest: str | None,
    uid: str | None,
    raw: bool,
    out: Path,
    url: str | None,
) -> None:
    """SM2-sign a file (or a digest) with a key held by the service."""
    with client(url) as kms:
        result = kms.request(
            "POST", kms.key_url(key_path(key)) + "/sign", _sign_body(src, digest, uid, raw)
        )
    write(out, unb64(result["signature"], "signature"))
    emit({"ok": True, "key_id": result["key_id"]}, f"signed with {result['key_id']}")


@remote.command("verify")
@click.argument("key")
@_sign_input
@click.option("-s", "--signature", type=FILE, required=True)
@click.option("--version", type=click.IntRange(min=1), help="Key version (default primary).")
@URL
@json_option
def verify(
    *,
    key: str,
    src: Path | None,
    digest: str | None,
    uid: str | None,
    raw: bool,
    signature: Path,
    version: int | None,
    url: str | None,
) -> None:
    """Verify an SM2 signature with the service; exit 5 if it does not verify."""
    body = {**_sign_body(src, digest, uid, raw), "signature": b64(read(signature))}
    if version is not None:
        body["version"] = version
    with client(url) as kms:
        result = kms.request("POST", kms.key_url(key_path(key)) + "/verify", body)
    emit({"ok": True, **result}, f"signature OK ({result['key_id']})")


@remote.command("batch")
@click.option(
    "-i",
    "--in",
    "src",
    type=FILE,
    required=True,
    help='JSON {"items": [{"operation", "key", ...}]} (binary values base64).',
)
@URL
@json_option
def batch(src: Path, url: str | None) -> None:
    """Send a batch of data operations in one request; each item is authorised and audited on
    its own. Exit 0 if every item succeeded, else the code of the first failure."""
    try:
        document = json.loads(read(src))
    except ValueError as exc:
        raise InputError(f"{src} is not JSON: {exc}") from None
    items = document.get("items") if isinstance(document, dict) else document
    if not isinstance(items, list) or not items:
        raise InputError(f'{src}: give {{"items": [...]}} or a JSON list of items')
    with client(url) as kms:
        results = kms.batch(items)
    failed = [(i, r) for i, r in enumerate(results) if not r.get("ok")]

    def human() -> None:
        for index, result in enumerate(results):
            state = "ok" if result.get("ok") else f"FAILED {result['error']['code']}"
            click.echo(f"{index:>4}  {items[index].get('operation')}  {state}")

    emit({"ok": not failed, "results": results}, human)
    if failed:  # one JSON document under --json: the code goes to the exit status only
        index, first = failed[0]
        error = ServiceError(first["error"]["code"], first["error"]["message"]).as_tulou_error()
        if not app().json_output:
            click.echo(f"tulou: error: item {index}: {error}", err=True)
        click.get_current_context().exit(error.exit_code)


@remote.command("timestamp")
@click.option("-i", "--in", "src", type=FILE, required=True, help="Data to timestamp.")
@click.option("-o", "--out", "out", type=FILE, required=True, help="RFC 3161 TimeStampResp (DER).")
@click.option(
    "--profile", type=click.Choice(["gmt0033", "openssl"]), default="gmt0033", show_default=True
)
@URL
@json_option
def timestamp(src: Path, out: Path, profile: str, url: str | None) -> None:
    """An SM2/SM3 RFC 3161 timestamp of a file (SM3 imprint), checked before it is written."""
    from crypto.service import tsa  # noqa: PLC0415
    from crypto.sm3 import sm3  # noqa: PLC0415

    data = read(src)
    nonce = secrets.randbits(63)
    with client(url) as kms:
        query = tsa.request(sm3(data), nonce=nonce)
        reply = kms.raw("POST", "/v1/timestamp", query, params={"profile": profile})
    verified = tsa.verify(reply, data=data, nonce=nonce)
    write(out, reply)
    emit(
        {"ok": True, "serial": f"{verified.serial:x}", "gen_time": verified.gen_time.isoformat()},
        f"timestamp {verified.serial:x} at {verified.gen_time.isoformat()}",
    )


@remote.command("timestamp-verify")
@click.option("-i", "--in", "src", type=FILE, required=True, help="The timestamped data.")
@click.option("-t", "--token", type=FILE, required=True, help="TimeStampResp or token (DER).")
@URL
@json_option
def timestamp_verify(src: Path, token: Path, url: str | None) -> None:
    """Have the service check a timestamp: signature, imprint of the data, TSA certificate
    (chain to the city CA, validity, CRL). Exit 5 if it does not verify."""
    with client(url) as kms:
        result = kms.request(
            "POST",
            "/v1/timestamp/verify",
            {"token": b64(read(token)), "data": b64(read(src))},
        )
    if not result.get("valid"):  # pragma: no cover - the service refuses instead
        raise VerificationError("the timestamp does not verify")
    emit(result, f"timestamp {result['serial']} at {result['gen_time']} by {result['tsa']}")


def _register() -> None:
    from crypto.service.remote_keys import keys, rings, tenants  # noqa: PLC0415
    from crypto.service.remote_pki import cms, pki  # noqa: PLC0415

    for group in (tenants, rings, keys, pki, cms):
        remote.add_command(group)


_register()
