"""The drill record (format ``tulou-drill-record/1``): one signed disaster-recovery drill.

Writer: ``tulou drill run`` (backup/drill.py builds the body, :func:`seal` signs it, :func:`write`
stores it under :func:`directory`). Readers: ``tulou drill verify``, ``tulou report drill`` and
the compliance report's backup clauses, all through :func:`verify` / :func:`load`. Contract
test: tests/integration/contracts/test_drill_record.py runs the real drill and the real reports.

The document is a JSON object with, among others (extra fields are allowed and signed):

- ``format`` = ``tulou-drill-record/1``; ``drill_id`` (hex); ``scenario``; ``injected``
- ``started`` / ``finished`` / ``incident_time``: ISO 8601 with an offset or ``Z``
- ``sites``: the policy's site names; ``restore_point``: ``{snapshot, time, site}`` or null
- ``phases``: ``[{name, seconds, ok, detail, counts_toward_rto}]``;
  ``checks``: ``[{name, ok, expected, actual}]``
- ``rto`` / ``rpo``: ``{objective_seconds, achieved_seconds (null if not measured), met}``
- ``outcome``: ``passed`` | ``failed`` | ``missed_objective``; ``error``: text or null
- ``signer``: ``{algorithm: "SM2-with-SM3", public_key: base64 DER, fingerprint: SM3 hex}``
- ``signature``: base64 DER SM2-with-SM3 (default user id) over ``"tulou-drill-record/v1\\n"``
  followed by the canonical JSON (:func:`canonical`) of every other field.

The core imports no crypto: the signer's key and the public-key loader are passed in (SM2 keys
of :mod:`crypto.sm2` fit :class:`SigningKey` and :class:`PublicKey` as they are).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tulou.errors import InputError, NotFoundError, VerificationError
from tulou.events import parse_timestamp

FORMAT = "tulou-drill-record/1"
LABEL = b"tulou-drill-record/v1\n"
OUTCOMES = ("passed", "failed", "missed_objective")


class PublicKey(Protocol):
    def verify(self, signature: bytes, data: bytes) -> None: ...  # raises VerificationError

    def fingerprint(self) -> str: ...

    def to_der(self) -> bytes: ...


class SigningKey(Protocol):
    def sign(self, data: bytes) -> bytes: ...

    def public_key(self) -> PublicKey: ...


type LoadPublicKey = Callable[[bytes], PublicKey]


def canonical(value: Any) -> bytes:
    """Key-sorted compact UTF-8 JSON: the bytes that are signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def directory(data_dir: Path) -> Path:
    """Where drill records live by default: ``<data_dir>/backup/drills``."""
    return data_dir / "backup" / "drills"


@dataclass(frozen=True, slots=True)
class Objective:
    objective_seconds: float
    achieved_seconds: float | None
    met: bool


@dataclass(frozen=True, slots=True)
class RestorePoint:
    snapshot: str
    time: str
    site: str


@dataclass(frozen=True, slots=True)
class DrillRecord:
    """A drill record as its readers see it (the signed document stays in ``document``)."""

    drill_id: str
    scenario: str
    outcome: str
    started: datetime
    finished: datetime
    injected: bool
    sites: tuple[str, ...]
    restore_point: RestorePoint | None
    rto: Objective
    rpo: Objective
    checks_passed: int
    checks_total: int
    error: str | None
    signer_fingerprint: str
    document: Mapping[str, Any]

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def seal(body: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """The signed record for ``body`` (any earlier ``format``/``signer``/``signature`` replaced)."""
    public = key.public_key()
    document = {
        **body,
        "format": FORMAT,
        "signer": {
            "algorithm": "SM2-with-SM3",
            "public_key": base64.b64encode(public.to_der()).decode("ascii"),
            "fingerprint": public.fingerprint(),
        },
    }
    document.pop("signature", None)
    signature = key.sign(LABEL + canonical(document))
    return {**document, "signature": base64.b64encode(signature).decode("ascii")}


def _objective(data: Any, name: str) -> Objective:
    if not isinstance(data, Mapping):
        raise InputError(f"{name} is not an object")
    achieved = data.get("achieved_seconds")
    return Objective(
        float(data["objective_seconds"]),
        None if achieved is None else float(achieved),
        data.get("met") is True,
    )


def parse(document: Any) -> DrillRecord:
    """The typed record (no signature check). Raises :class:`InputError` naming what is wrong."""
    if not isinstance(document, Mapping):
        raise InputError("not a drill record: not a JSON object")
    if document.get("format") != FORMAT:
        raise InputError(f"not a drill record: format {document.get('format')!r} is not {FORMAT}")
    try:
        point = document.get("restore_point")
        restore = (
            RestorePoint(str(point["snapshot"]), str(point["time"]), str(point["site"]))
            if point
            else None
        )
        checks = list(document.get("checks") or ())
        outcome = str(document["outcome"])
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        return DrillRecord(
            drill_id=str(document["drill_id"]),
            scenario=str(document["scenario"]),
            outcome=outcome,
            started=parse_timestamp(str(document["started"])),
            finished=parse_timestamp(str(document["finished"])),
            injected=document.get("injected") is True,
            sites=tuple(str(s) for s in document.get("sites") or ()),
            restore_point=restore,
            rto=_objective(document["rto"], "rto"),
            rpo=_objective(document["rpo"], "rpo"),
            checks_passed=sum(1 for c in checks if isinstance(c, Mapping) and c.get("ok") is True),
            checks_total=len(checks),
            error=None if document.get("error") is None else str(document["error"]),
            signer_fingerprint=str(document["signer"]["fingerprint"]),
            document=document,
        )
    except (KeyError, TypeError, ValueError, InputError) as exc:
        raise InputError(f"not a drill record: {type(exc).__name__}: {exc}") from None


def verify(
    document: Any, load_public_key: LoadPublicKey, pinned_fingerprint: str | None = None
) -> DrillRecord:
    """The typed record once its signature verifies (and its signer is the pinned one, if given).

    Raises :class:`InputError` if it is not a drill record, :class:`VerificationError` if the
    signature, the signer's fingerprint or the pin does not hold.
    """
    record = parse(document)
    body = dict(document)
    try:
        signature = base64.b64decode(str(body.pop("signature")), validate=True)
        der = base64.b64decode(str(body["signer"]["public_key"]), validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise VerificationError("drill record carries no readable signature") from None
    try:
        public = load_public_key(der)
    except (InputError, ValueError) as exc:
        raise VerificationError(f"drill record signer key unreadable: {exc}") from None
    if public.fingerprint() != record.signer_fingerprint:
        raise VerificationError("drill record signer fingerprint does not match its key")
    if pinned_fingerprint and public.fingerprint().lower() != pinned_fingerprint.lower():
        raise VerificationError("drill record was signed by another key than the pinned one")
    public.verify(signature, LABEL + canonical(body))
    return record


def write(document: Mapping[str, Any], folder: Path) -> Path:
    """Store a sealed record in ``folder``; return its path.

    The file appears whole or not at all (written aside, then linked into place), is named by
    the full ``drill_id`` and never replaces another record: a second record under the same id
    is refused with :class:`InputError`.
    """
    record = parse(document)
    if not all(c.isalnum() or c in "-_" for c in record.drill_id + record.scenario):
        raise InputError("drill id and scenario must be letters, digits, '-' or '_'")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = record.started.strftime("%Y%m%dT%H%M%S")
    path = folder / f"drill-{record.scenario}-{stamp}-{record.drill_id}.json"
    text = json.dumps(dict(document), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".drill-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails if the name exists: records are never overwritten
    except FileExistsError:
        raise InputError(
            f"a drill record {path.name} already exists", location=str(folder)
        ) from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path


def read(path: Path) -> dict[str, Any]:
    """The JSON document of one record file (not yet parsed or verified)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read drill record: {exc}", location=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("not a drill record: not a JSON object", location=str(path))
    return data


def files(folder: Path) -> Iterator[Path]:
    """The record files of ``folder``, oldest name first (nothing if it does not exist)."""
    if folder.is_dir():
        yield from sorted(p for p in folder.glob("drill-*.json") if p.is_file())


def find(folder: Path, wanted: str) -> Path:
    """The record whose ``drill_id`` (or a unique prefix of it, or its file stem) is ``wanted``."""
    hits = []
    for path in files(folder):
        if path.stem == wanted:
            return path
        try:
            drill_id = str(read(path).get("drill_id", ""))
        except InputError:
            continue
        if drill_id == wanted:
            return path
        if len(wanted) >= 8 and drill_id.startswith(wanted):
            hits.append(path)
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise NotFoundError(f"drill {wanted!r} is ambiguous in {folder}: {len(hits)} records")
    raise NotFoundError(f"drill {wanted!r} not found in {folder}")
