"""``tulou report ...``: signed compliance, incident and drill reports, and their verification.

Every report is a directory: ``report.pdf`` + ``report.html`` (one template) + ``report.json``
(the machine-readable twin) + ``report.sig.json`` (SM2 over the SM3 digests of the three).
``tulou report verify DIR`` checks one offline and exits 5 when anything does not verify.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from compliance.catalogue import load_catalogue
from compliance.collectors.backup import read_drill
from compliance.document import Scope, drill_document, incident_document
from compliance.judge import RULES, STATUS_ZH
from compliance.keys import default_key_path, load_public_key, load_signing_key, public_key_path
from compliance.output import write_report
from compliance.period import parse_period
from compliance.signing import verify_directory
from compliance.sources import Sources, load_sources
from tulou.clikit import app, emit, json_option, stderr_is_tty
from tulou.contracts import drill as drill_contract
from tulou.errors import NotFoundError, UsageError, VerificationError

_PATH = click.Path(path_type=Path)
_sources_option = click.option(
    "--sources",
    "sources_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report sources file (YAML). Default: <data_dir>/reports/sources.yaml if present.",
)
_key_option = click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SM2 private key (PEM, wrapped with TULOU_MASTER_PASSPHRASE). "
    "Default: <data_dir>/reports/signing-key.pem, created on first use.",
)


def _status(message: str) -> AbstractContextManager[Any]:
    """A spinner on stderr while collecting (only on a terminal, never under --json)."""
    from contextlib import nullcontext  # noqa: PLC0415

    if app().json_output or not stderr_is_tty():
        return nullcontext()
    from rich.console import Console  # noqa: PLC0415 - only interactive runs need rich

    return Console(stderr=True).status(message)


def _scope(sources: Sources) -> Scope:
    return Scope(system_name=sources.system.name, operator=sources.system.operator)


def _write(doc: dict[str, Any], out: Path, signing_key: Path | None) -> dict[str, Any]:
    settings = app().settings
    key = load_signing_key(settings, signing_key)
    with _status(f"rendering and signing {out}"):
        manifest = write_report(doc, out, key)
    return {
        "ok": True,
        "kind": doc["kind"],
        "out": str(out),
        "files": [*sorted(manifest["files"]), "report.sig.json"],
        "signer": manifest["signer"]["fingerprint"],
    }


def _human(result: dict[str, Any], extra: str = "") -> Callable[[], None]:
    def show() -> None:
        click.echo(
            f"{result['kind']} report written to {result['out']}/ ({', '.join(result['files'])})"
        )
        if extra:
            click.echo(extra)
        click.echo(f"signed with SM2 key {result['signer']}")

    return show


@click.command("compliance")
@click.option("--period", required=True, help="2026-Q4, 2026-11, 2026 or 2026-10-01..2026-12-31.")
@click.option("--out", required=True, type=_PATH, help="New (or empty) directory for the report.")
@_sources_option
@_key_option
@click.option(
    "--catalogue",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Clause catalogue (YAML). Default: the one shipped with Tulou.",
)
@json_option
def compliance(
    period: str,
    out: Path,
    sources_file: Path | None,
    signing_key: Path | None,
    catalogue: Path | None,
) -> None:
    """MLPS 2.0 (GB/T 22239 level 3) and GB/T 39786 level 3 compliance report for a period."""
    from compliance.engine import compliance_from, default_collectors  # noqa: PLC0415 - heavy

    settings = app().settings
    span = parse_period(period)
    sources = load_sources(settings, sources_file)
    clauses = load_catalogue(catalogue, rules=RULES)
    public = public_key_path(signing_key or default_key_path(settings))
    with _status(f"collecting evidence for {span.label}"):
        registry = default_collectors(settings, sources, signing_public_key=public)
        doc = compliance_from(registry, span, scope=_scope(sources), catalogue=clauses)
    result = _write(doc, out, signing_key)
    result["summary"] = doc["summary"]["by_status"]
    counts = " · ".join(f"{STATUS_ZH[s]} {s}: {n}" for s, n in doc["summary"]["by_status"].items())
    emit(result, human=_human(result, f"{doc['summary']['clauses']} clauses: {counts}"))


@click.command("incident")
@click.argument("case_id", type=int)
@click.option("--out", type=_PATH, help="Directory for the report. Default: ./incident-ID.")
@_sources_option
@_key_option
@json_option
def incident(
    case_id: int, out: Path | None, sources_file: Path | None, signing_key: Path | None
) -> None:
    """GB/T 20986 incident report for SOC case ID (category, grade, reporting deadline)."""
    from compliance.collectors.soc import incident_detail  # noqa: PLC0415 - heavy imports
    from compliance.engine import soc_database  # noqa: PLC0415

    settings = app().settings
    sources = load_sources(settings, sources_file)
    database = soc_database(settings, sources)
    try:
        with database.read() as session:
            record = incident_detail(session, case_id, datetime.now(UTC))
    finally:
        database.dispose()
    if record is None:
        raise NotFoundError(f"case {case_id} does not exist")
    doc = incident_document(record, scope=_scope(sources), generated_at=datetime.now(UTC))
    result = _write(doc, out or Path(f"incident-{case_id}"), signing_key)
    result["deadline_state"] = record["deadline_state"]
    emit(
        result,
        human=_human(result, f"grade {record['grade']}, deadline: {record['deadline_state']}"),
    )


@click.command("drill")
@click.argument("drill_id")
@click.option("--out", type=_PATH, help="Directory for the report. Default: ./drill-ID.")
@_sources_option
@_key_option
@json_option
def drill(
    drill_id: str, out: Path | None, sources_file: Path | None, signing_key: Path | None
) -> None:
    """Disaster-recovery drill report: RTO/RPO achieved against objective, record signature."""
    settings = app().settings
    sources = load_sources(settings, sources_file)
    folder = sources.backup.drills
    if folder is None or not folder.is_dir():
        raise NotFoundError(f"no drill records directory ({folder})")
    pinned = load_public_key(sources.backup.drill_key) if sources.backup.drill_key else None
    found = read_drill(drill_contract.find(folder, drill_id), pinned)
    doc = drill_document(found, scope=_scope(sources), generated_at=datetime.now(UTC))
    result = _write(doc, out or Path(f"drill-{drill_id}"), signing_key)
    result["rto_met"], result["rpo_met"] = found["rto_met"], found["rpo_met"]
    result["record_signature_ok"] = found["signature_ok"]
    emit(
        result,
        human=_human(
            result,
            f"RTO met: {found['rto_met']} · RPO met: {found['rpo_met']} · "
            f"record signature valid: {found['signature_ok']}",
        ),
    )


@click.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The signer's public key (PEM) obtained out of band: pins the signer.",
)
@click.option("--fingerprint", help="The signer's key fingerprint (hex SM3) obtained out of band.")
@json_option
def verify(directory: Path, key: Path | None, fingerprint: str | None) -> None:
    """Verify a report directory offline: SM3 digests of every file and the SM2 signature."""
    trusted = load_public_key(key) if key else None
    if fingerprint is not None and not all(c in "0123456789abcdefABCDEF" for c in fingerprint):
        raise UsageError("--fingerprint must be hex")
    result = verify_directory(directory, trusted=trusted, fingerprint=fingerprint)

    def show() -> None:
        for name, state in result.files.items():
            click.echo(f"  {name:12} {state}")
        pinned = "pinned" if result.pinned else "NOT pinned: pass --key or --fingerprint"
        click.echo(f"signer {result.fingerprint} ({pinned})")
        if result.ok:
            click.echo(f"OK: {directory} verifies (signed {result.signed_at})")

    if not result.ok:
        if not app().json_output:  # under --json the error document is the one output
            show()
        raise VerificationError(f"{directory} does not verify: " + "; ".join(result.problems))
    emit(result.to_dict(), human=show)


@click.group()
def report() -> None:
    """Signed compliance reports for regulators."""


for _command in (compliance, incident, drill, verify):
    report.add_command(_command)
