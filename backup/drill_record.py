"""Drill records: the signed, verifiable result of one disaster-recovery drill.

A record is canonical JSON (format ``tulou-drill-record/1``) with, among others: ``scenario``,
``started``/``finished``, ``incident_time``, ``restore_point`` (snapshot, its time and site),
``phases`` (name, seconds, ok, detail), ``checks`` (name, ok, expected, actual), ``rto`` and
``rpo`` (objective_seconds, achieved_seconds, met), ``outcome`` (``passed``, ``failed`` or
``missed_objective``) and ``signer`` (SM2 public key DER and its SM3 fingerprint). ``signature``
is a DER SM2-with-SM3 signature (default user id) over ``"tulou-drill-record/v1\\n" ||``
canonical JSON of every other field. It is signed with the repository's signing key, so the
fingerprint pinned in the backup policy identifies who may sign drill records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backup.keys import b64d, b64e, canonical
from crypto import sm2
from tulou.errors import InputError, VerificationError

FORMAT = "tulou-drill-record/1"
_LABEL = b"tulou-drill-record/v1\n"


def sign(record: dict[str, Any], key: sm2.SM2PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    body = {
        **record,
        "format": FORMAT,
        "signer": {
            "algorithm": "SM2-with-SM3",
            "public_key": b64e(public.to_der()),
            "fingerprint": public.fingerprint(),
        },
    }
    body.pop("signature", None)
    return {**body, "signature": b64e(key.sign(_LABEL + canonical(body)))}


def verify(record: dict[str, Any], expected_fingerprint: str | None = None) -> dict[str, Any]:
    """Verify a record's signature (and signer, if a fingerprint is pinned); return it."""
    try:
        body = dict(record)
        signature = b64d(body.pop("signature"), "signature")
        signer = body["signer"]
        public = sm2.SM2PublicKey.from_der(b64d(signer["public_key"], "signer key"))
    except (KeyError, TypeError, InputError) as exc:
        raise VerificationError("not a signed drill record") from exc
    if body.get("format") != FORMAT:
        raise VerificationError(f"unknown drill record format {body.get('format')!r}")
    if public.fingerprint() != signer.get("fingerprint"):
        raise VerificationError("drill record signer fingerprint does not match its key")
    if expected_fingerprint and public.fingerprint() != expected_fingerprint:
        raise VerificationError("drill record was signed by another key than the pinned one")
    public.verify(signature, _LABEL + canonical(body))
    return record


def write(record: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = str(record["started"]).replace(":", "").replace("-", "")[:15]
    path = folder / f"drill-{record['scenario']}-{stamp}-{record['drill_id'][:8]}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read drill record {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a drill record")
    return data
