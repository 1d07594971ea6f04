"""``tulou crypto remote pki|cms ...``: the city CA, certificates, CRLs and signed messages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from crypto.service.remote_common import FILE, URL, b64, client, key_path, read, unb64, write
from tulou.clikit import emit, json_option
from tulou.errors import UsageError


@click.group("pki")
def pki() -> None:
    """The city CA: certificates from CSRs, revocation, CRL, validation."""


def _public_document(url: str | None, path: str, out: Path, params: dict[str, Any] | None) -> None:
    with client(url) as kms:
        data = kms.get_bytes(path, params=params)
    write(out, data)
    if str(out) != "-":
        emit({"ok": True, "bytes": len(data), "out": str(out)}, f"wrote {out}")


@pki.command("ca")
@click.option("-o", "--out", "out", type=FILE, default="-", help="PEM (default stdout).")
@URL
@json_option
def pki_ca(out: Path, url: str | None) -> None:
    """The city CA certificate (the trust anchor to distribute)."""
    _public_document(url, "/v1/pki/ca", out, None)


@pki.command("crl")
@click.option("-o", "--out", "out", type=FILE, default="-")
@click.option("--pem", is_flag=True, help="PEM instead of DER.")
@URL
@json_option
def pki_crl(out: Path, pem: bool, url: str | None) -> None:
    """The current certificate revocation list."""
    _public_document(url, "/v1/pki/crl", out, {"format": "pem" if pem else "der"})


@pki.command("tsa")
@click.option("-o", "--out", "out", type=FILE, default="-", help="PEM (default stdout).")
@URL
@json_option
def pki_tsa(out: Path, url: str | None) -> None:
    """The timestamp authority's certificate."""
    _public_document(url, "/v1/pki/tsa", out, None)


@pki.command("issue")
@click.option("--csr", type=FILE, required=True, help="PKCS#10 request (PEM), SM2 key.")
@click.option(
    "--profile",
    type=click.Choice(["client", "server", "signing", "encryption", "tsa"]),
    default="signing",
    show_default=True,
)
@click.option("--dns", multiple=True, help="subjectAltName dNSName (repeatable).")
@click.option("--days", type=click.IntRange(1, 3650), help="Validity (default the CA's).")
@click.option("-o", "--out", "out", type=FILE, required=True, help="Certificate (PEM).")
@URL
@json_option
def pki_issue(
    *, csr: Path, profile: str, dns: tuple[str, ...], days: int | None, out: Path, url: str | None
) -> None:
    """Issue an SM2 certificate from a CSR (its signature must verify)."""
    body: dict[str, Any] = {"csr": read(csr).decode("ascii", "replace"), "profile": profile}
    if dns:
        body["dns"] = list(dns)
    if days:
        body["days"] = days
    with client(url) as kms:
        result = kms.request("POST", "/v1/pki/certificates", body)
    write(out, result["certificate"].encode())
    emit(
        {k: v for k, v in result.items() if k != "certificate"},
        f"issued {result['serial']} to {result['subject']} until {result['not_after']}",
    )


@pki.command("key-cert")
@click.argument("key")
@click.option("--cn", "common_name", required=True, help="Subject CN.")
@click.option("--org", "organization", help="Subject O.")
@click.option(
    "--profile",
    type=click.Choice(["signing", "client", "server"]),
    default="signing",
    show_default=True,
)
@click.option("-o", "--out", "out", type=FILE, required=True, help="Certificate (PEM).")
@URL
@json_option
def pki_key_cert(
    *,
    key: str,
    common_name: str,
    organization: str | None,
    profile: str,
    out: Path,
    url: str | None,
) -> None:
    """A city-CA certificate for an SM2 key held by the service (needed by 'cms sign')."""
    body: dict[str, Any] = {"common_name": common_name, "profile": profile}
    if organization:
        body["organization"] = organization
    with client(url) as kms:
        result = kms.request("POST", kms.key_url(key_path(key)) + "/certificate", body)
    write(out, result["certificate"].encode())
    emit(
        {k: v for k, v in result.items() if k != "certificate"},
        f"issued {result['serial']} for {key}@v{result['version']}",
    )


@pki.command("show")
@click.argument("serial")
@URL
@json_option
def pki_show(serial: str, url: str | None) -> None:
    """The CA's record of a certificate (status, profile, who asked, revocation)."""
    with client(url) as kms:
        record = kms.request("GET", f"/v1/pki/certificates/{_serial(serial)}")
    emit(
        record,
        f"{record['serial']}  {record.get('status')}  {record.get('subject')}  "
        f"until {record.get('not_after')}",
    )


def _serial(text: str) -> str:
    value = text.lower().removeprefix("0x")
    if not value or any(c not in "0123456789abcdef" for c in value):
        raise UsageError(f"a serial is hexadecimal, got {text!r}")
    return value


_REASONS = [
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
]


@pki.command("revoke")
@click.argument("serial")
@click.option("--reason", type=click.Choice(_REASONS), default="unspecified", show_default=True)
@URL
@json_option
def pki_revoke(serial: str, reason: str, url: str | None) -> None:
    """Revoke a certificate (the CRL is rebuilt at once)."""
    with client(url) as kms:
        result = kms.request(
            "POST", f"/v1/pki/certificates/{_serial(serial)}/revoke", {"reason": reason}
        )
    emit(result, f"revoked {result['serial']} at {result['revoked_at']}")


@pki.command("validate")
@click.argument("certificate", type=FILE)
@click.option("--at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]))
@URL
@json_option
def pki_validate(certificate: Path, at: datetime | None, url: str | None) -> None:
    """Validate a certificate: chain to the city CA, validity (now or --at), CRL. Exit 5 if it
    is invalid, expired or revoked."""
    body: dict[str, Any] = {"certificate": read(certificate).decode("ascii", "replace")}
    if at is not None:
        body["at"] = at.isoformat()
    with client(url) as kms:
        result = kms.request("POST", "/v1/pki/validate", body)
    emit(result, f"valid: {result['subject']} (serial {result['serial']})")


@click.group("cms")
def cms() -> None:
    """SignedData (GM/T 0010 / PKCS#7) by service-held keys."""


@cms.command("sign")
@click.argument("key")
@click.option("-i", "--in", "src", type=FILE, required=True)
@click.option("-o", "--out", "out", type=FILE, required=True, help="SignedData (DER).")
@click.option(
    "--profile", type=click.Choice(["gmt0010", "pkcs7"]), default="gmt0010", show_default=True
)
@click.option("--detached", is_flag=True, help="Leave the content out of the message.")
@click.option("--uid", help="SM2 ID in Z (default 1234567812345678; '' for openssl cms).")
@URL
@json_option
def cms_sign(
    *,
    key: str,
    src: Path,
    out: Path,
    profile: str,
    detached: bool,
    uid: str | None,
    url: str | None,
) -> None:
    """Sign a file as CMS SignedData with KEY and its city-CA certificate ('pki key-cert')."""
    body: dict[str, Any] = {"data": b64(read(src)), "profile": profile, "detached": detached}
    if uid is not None:
        body["uid"] = uid
    with client(url) as kms:
        result = kms.request("POST", kms.key_url(key_path(key)) + "/cms-sign", body)
    write(out, unb64(result["message"], "message"))
    emit(
        {k: v for k, v in result.items() if k != "message"},
        f"signed by {result['key_id']} (certificate {result['signer_serial']})",
    )


@cms.command("verify")
@click.option("-i", "--in", "src", type=FILE, required=True, help="SignedData (DER).")
@click.option("--content", type=FILE, help="The content of a detached message.")
@click.option("-o", "--out", "out", type=FILE, help="Write the verified attached content here.")
@URL
@json_option
def cms_verify(src: Path, content: Path | None, out: Path | None, url: str | None) -> None:
    """Verify a SignedData and its signer's certificate (chain, validity, CRL); exit 5 if not."""
    body: dict[str, Any] = {"message": b64(read(src))}
    if content is not None:
        body["content"] = b64(read(content))
    with client(url) as kms:
        result = kms.request("POST", "/v1/cms/verify", body)
    if out is not None and "content" in result:
        write(out, unb64(result["content"], "content"))
    shown = {k: v for k, v in result.items() if k != "content"}
    emit(shown, f"valid SignedData ({result['profile']}) by {result['signer']['subject']}")
