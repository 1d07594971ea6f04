"""Snapshot files: a sealed body (what was backed up) inside an SM2-signed, public envelope.

File ``snapshots/<SM3 of the file>`` is canonical JSON::

    {"version": 1, "repo": repo id, "time": RFC 3339 UTC, "signer": SM3 fingerprint of the
     SM2 public key, "body": base64(SM4-seal(data_key, JSON body, aad = "tulou-backup/snapshot/v1"
     || repo id)), "signature": base64(DER SM2 signature)}

The signature (SM2 with SM3, default user id) covers ``"tulou-backup/snapshot/v1\\n" ||
canonical JSON of every field but "signature"``. Anyone with the repository's public key,
which is in the plaintext config, checks a snapshot's origin and integrity (and its time, used
for RPO and retention) without any secret; only key holders read the body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backup.keys import FORMAT_VERSION, MasterKeys, b64d, b64e, canonical
from crypto import sm2, sm3, sm4
from tulou.errors import InputError, VerificationError

_LABEL = b"tulou-backup/snapshot/v1"


@dataclass(frozen=True)
class SnapshotHeader:
    """The public, signed part of a snapshot."""

    snapshot_id: str
    repo_id: str
    time: str
    signer: str
    envelope: dict[str, Any]

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00"))


def encode(keys: MasterKeys, repo_id: str, time: str, body: dict[str, Any]) -> tuple[str, bytes]:
    sealed = sm4.seal(keys.data_key, canonical(body), aad=_LABEL + repo_id.encode())
    envelope: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "repo": repo_id,
        "time": time,
        "signer": keys.public_key.fingerprint(),
        "body": b64e(sealed),
    }
    signature = keys.sign_key.sign(_LABEL + b"\n" + canonical(envelope))
    data = canonical({**envelope, "signature": b64e(signature)})
    return sm3.sm3(data).hex(), data


def verify(
    public_key: sm2.SM2PublicKey, repo_id: str, snapshot_id: str, data: bytes
) -> SnapshotHeader:
    """Check name, signature and repository binding; needs no secret."""
    if sm3.sm3(data).hex() != snapshot_id:
        raise VerificationError(f"snapshot {snapshot_id[:16]}: content does not match its name")
    try:
        document = json.loads(data)
        signature = b64d(document.pop("signature"), "signature")
        header = SnapshotHeader(
            snapshot_id,
            str(document["repo"]),
            str(document["time"]),
            str(document["signer"]),
            document,
        )
        header.when  # noqa: B018 - parses the time, raising ValueError if malformed
    except (KeyError, TypeError, ValueError, InputError, AttributeError) as exc:
        raise VerificationError(f"snapshot {snapshot_id[:16]} is malformed") from exc
    if header.repo_id != repo_id:
        raise VerificationError(f"snapshot {snapshot_id[:16]} belongs to another repository")
    if header.signer != public_key.fingerprint():
        raise VerificationError(f"snapshot {snapshot_id[:16]} was signed by an unknown key")
    try:
        public_key.verify(signature, _LABEL + b"\n" + canonical(document))
    except VerificationError as exc:
        raise VerificationError(f"snapshot {snapshot_id[:16]}: SM2 signature invalid") from exc
    return header


def open_body(keys: MasterKeys, header: SnapshotHeader) -> dict[str, Any]:
    try:
        sealed = b64d(header.envelope["body"], "snapshot body")
        body = json.loads(sm4.open(keys.data_key, sealed, aad=_LABEL + header.repo_id.encode()))
    except (VerificationError, InputError, KeyError, ValueError) as exc:
        raise VerificationError(f"snapshot {header.snapshot_id[:16]}: body is damaged") from exc
    if not isinstance(body, dict):
        raise VerificationError(f"snapshot {header.snapshot_id[:16]}: body is not an object")
    return body
