"""The report signature: an SM2 signature over a manifest of the report files' SM3 digests.

A signed report directory holds ``report.pdf``, ``report.json``, ``report.html`` and
``report.sig.json``::

    {"schema": "tulou-report-signature/1",
     "algorithm": "SM2-SM3", "uid": "1234567812345678",
     "files": {"report.html": {"bytes": N, "sm3": HEX}, "report.json": {...}, "report.pdf": {...}},
     "signer": {"public_key": PEM, "fingerprint": HEX},
     "signed_at": ISO-8601,
     "signature": BASE64(DER SM2 signature)}

The signed message is the manifest without ``signature``, serialised as compact, key-sorted UTF-8
JSON. :func:`verify_directory` needs nothing but the directory (offline): it recomputes every
digest, checks the signature, and refuses extra or missing files. The public key in the manifest
proves integrity only; authenticity needs the signer's fingerprint checked against one the
regulator got through another channel (``--key`` / ``--fingerprint``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compliance.i18n import _
from crypto.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey
from crypto.sm3 import sm3
from tulou.errors import InputError, VerificationError

SCHEMA = "tulou-report-signature/1"
SIGNATURE_FILE = "report.sig.json"
SIGNED_FILES = ("report.html", "report.json", "report.pdf")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"bytes": len(data), "sm3": sm3(data).hex()}


def sign_directory(
    directory: Path, key: SM2PrivateKey, *, now: datetime | None = None
) -> dict[str, Any]:
    """Sign the report files in ``directory``; writes and returns the manifest."""
    missing = [name for name in SIGNED_FILES if not (directory / name).is_file()]
    if missing:
        raise InputError(f"cannot sign: {', '.join(missing)} missing", location=str(directory))
    public = key.public_key()
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "algorithm": "SM2-SM3",
        "uid": DEFAULT_UID.decode(),
        "files": {name: _digest(directory / name) for name in SIGNED_FILES},
        "signer": {"public_key": public.to_pem().decode(), "fingerprint": public.fingerprint()},
        "signed_at": (now or datetime.now(UTC)).isoformat(),
    }
    manifest["signature"] = base64.b64encode(key.sign(_canonical(manifest))).decode()
    (directory / SIGNATURE_FILE).write_bytes(_canonical(manifest) + b"\n")
    return manifest


@dataclass
class VerifyResult:
    ok: bool
    directory: str
    fingerprint: str = ""
    pinned: bool = False
    #: A key or fingerprint was given and the signer is not it (the report is someone else's).
    pin_mismatch: bool = False
    signed_at: str = ""
    files: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": self.directory,
            "fingerprint": self.fingerprint,
            "pinned": self.pinned,
            "pin_mismatch": self.pin_mismatch,
            "signed_at": self.signed_at,
            "files": self.files,
            "problems": self.problems,
        }


def _load_manifest(directory: Path) -> dict[str, Any]:
    path = directory / SIGNATURE_FILE
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise VerificationError(
            f"no {SIGNATURE_FILE}: the report is not signed", location=str(directory)
        ) from None
    except (OSError, ValueError) as exc:
        raise VerificationError(
            f"{SIGNATURE_FILE} is unreadable: {exc}", location=str(directory)
        ) from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise VerificationError(
            f"{SIGNATURE_FILE} is not a {SCHEMA} manifest", location=str(directory)
        )
    return manifest


def verify_directory(
    directory: Path,
    *,
    trusted: SM2PublicKey | None = None,
    fingerprint: str | None = None,
) -> VerifyResult:
    """Check the files against the signed manifest. Never raises for a bad report: returns
    ``ok=False`` with every problem found (the CLI turns that into exit code 5)."""
    result = VerifyResult(ok=False, directory=str(directory))
    manifest = _load_manifest(directory)
    try:
        signer = SM2PublicKey.from_pem(str(manifest["signer"]["public_key"]).encode())
        signature = base64.b64decode(str(manifest["signature"]), validate=True)
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
    except (KeyError, TypeError, ValueError, InputError) as exc:
        result.problems.append(_("malformed manifest: {problem}").format(problem=exc))
        return result
    result.fingerprint = signer.fingerprint()
    result.signed_at = str(manifest.get("signed_at", ""))
    if trusted is not None and trusted != signer:
        result.pin_mismatch = True
        result.problems.append(
            _("signed by key {signer}, NOT by the key given with --key ({trusted})").format(
                signer=result.fingerprint, trusted=trusted.fingerprint()
            )
        )
    if fingerprint is not None and fingerprint.lower() != result.fingerprint:
        result.pin_mismatch = True
        result.problems.append(
            _("signed by key {signer}, NOT by the fingerprint given ({given})").format(
                signer=result.fingerprint, given=fingerprint.lower()
            )
        )
    result.pinned = (trusted is not None or fingerprint is not None) and not result.problems
    unsigned = dict(manifest)
    del unsigned["signature"]
    try:
        signer.verify(signature, _canonical(unsigned), uid=str(manifest.get("uid", "")).encode())
    except VerificationError:
        result.problems.append(
            _("the SM2 signature over the manifest does not verify (manifest edited?)")
        )
    if sorted(files) != sorted(SIGNED_FILES):
        result.problems.append(
            _("the manifest lists {found}, expected {expected}").format(
                found=sorted(files), expected=list(SIGNED_FILES)
            )
        )
    for name in SIGNED_FILES:
        path = directory / name
        if not path.is_file():
            result.files[name] = "missing"
            result.problems.append(_("{name} is missing").format(name=name))
            continue
        actual = _digest(path)
        expected = files.get(name) or {}
        if actual != {"bytes": expected.get("bytes"), "sm3": expected.get("sm3")}:
            result.files[name] = "modified"
            result.problems.append(
                _("{name} was modified after signing (SM3 digest differs)").format(name=name)
            )
        else:
            result.files[name] = "ok"
    extra = sorted(
        p.name for p in directory.iterdir() if p.name not in (*SIGNED_FILES, SIGNATURE_FILE)
    )
    if extra:
        result.problems.append(
            _("files not covered by the signature: {names}").format(names=", ".join(extra))
        )
    result.ok = not result.problems
    return result
