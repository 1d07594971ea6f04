"""``tulou report ...``: signed compliance, incident and drill reports, and their verification.

Every report is a directory: ``report.pdf`` + ``report.html`` (one template) + ``report.json``
(the machine-readable twin) + ``report.sig.json`` (SM2 over the SM3 digests of the three).
``tulou report verify DIR`` checks one offline and exits 5 when anything does not verify.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from compliance.catalogue import load_catalogue
from compliance.collectors.backup import read_drill
from compliance.document import Scope, drill_document, incident_document
from compliance.i18n import _
from compliance.judge import RULES, status_words
from compliance.keys import default_key_path, load_public_key, load_signing_key, public_key_path
from compliance.output import write_report
from compliance.period import parse_period
from compliance.signing import verify_directory
from compliance.sources import Sources, load_sources
from tulou import i18n
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


def _lang_option[F: Callable[..., Any]](func: F) -> F:
    """``--lang``: the report's language (Simplified Chinese unless English is asked for)."""

    @click.option(
        "--lang",
        type=click.Choice(i18n.LOCALES),
        default=i18n.DEFAULT_LOCALE,
        show_default=True,
        help="Language of the report and of the messages: zh_CN (简体中文) or en.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, lang: str, **kwargs: Any) -> Any:
        with i18n.using(lang):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


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
    with _status(_("rendering and signing {out}").format(out=out)):
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
            _("{kind} report written to {out}/ ({files})").format(
                kind=result["kind"], out=result["out"], files=", ".join(result["files"])
            )
        )
        if extra:
            click.echo(extra)
        click.echo(_("signed with SM2 key {signer}").format(signer=result["signer"]))

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
@_lang_option
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
    with _status(_("collecting evidence for {period}").format(period=span.label)):
        registry = default_collectors(settings, sources, signing_public_key=public)
        doc = compliance_from(registry, span, scope=_scope(sources), catalogue=clauses)
    result = _write(doc, out, signing_key)
    result["summary"] = doc["summary"]["by_status"]
    counts = " · ".join(f"{status_words(s)}: {n}" for s, n in doc["summary"]["by_status"].items())
    line = _("{n} clauses: {counts}").format(n=doc["summary"]["clauses"], counts=counts)
    emit(result, human=_human(result, line))


@click.command("incident")
@click.argument("case_id", type=int)
@click.option("--out", type=_PATH, help="Directory for the report. Default: ./incident-ID.")
@_sources_option
@_key_option
@_lang_option
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
        raise NotFoundError(_("case {id} does not exist").format(id=case_id))
    doc = incident_document(record, scope=_scope(sources), generated_at=datetime.now(UTC))
    result = _write(doc, out or Path(f"incident-{case_id}"), signing_key)
    result["deadline_state"] = record["deadline_state"]
    emit(
        result,
        human=_human(
            result,
            _("grade {grade}, deadline: {state}").format(
                grade=record["grade"], state=record["deadline_state"]
            ),
        ),
    )


@click.command("drill")
@click.argument("drill_id")
@click.option("--out", type=_PATH, help="Directory for the report. Default: ./drill-ID.")
@_sources_option
@_key_option
@_lang_option
@json_option
def drill(
    drill_id: str, out: Path | None, sources_file: Path | None, signing_key: Path | None
) -> None:
    """Disaster-recovery drill report: RTO/RPO achieved against objective, record signature."""
    settings = app().settings
    sources = load_sources(settings, sources_file)
    folder = sources.backup.drills
    if folder is None or not folder.is_dir():
        raise NotFoundError(_("no drill records directory ({folder})").format(folder=folder))
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
            _("RTO met: {rto} · RPO met: {rpo} · record signature valid: {signature}").format(
                rto=found["rto_met"], rpo=found["rpo_met"], signature=found["signature_ok"]
            ),
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
@_lang_option
@json_option
def verify(directory: Path, key: Path | None, fingerprint: str | None) -> None:
    """Verify a report directory offline: SM3 digests of every file and the SM2 signature."""
    trusted = load_public_key(key) if key else None
    if fingerprint is not None and not all(c in "0123456789abcdefABCDEF" for c in fingerprint):
        raise UsageError(_("--fingerprint must be hex"))
    result = verify_directory(directory, trusted=trusted, fingerprint=fingerprint)

    def show() -> None:
        for name, state in result.files.items():
            click.echo(f"  {name:12} {state}")
        if result.pin_mismatch:
            pinned = _("NOT the signer you named: the report was signed by another key")
        elif result.pinned:
            pinned = _("pinned")
        else:
            pinned = _("NOT pinned: pass --key or --fingerprint")
        click.echo(
            _("signer {fingerprint} ({pinned})").format(
                fingerprint=result.fingerprint, pinned=pinned
            )
        )
        if result.ok:
            click.echo(
                _("OK: {directory} verifies (signed {at})").format(
                    directory=directory, at=result.signed_at
                )
            )

    if not result.ok:
        if not app().json_output:  # under --json the error document is the one output
            show()
        raise VerificationError(
            _("{directory} does not verify: {problems}").format(
                directory=directory, problems="; ".join(result.problems)
            )
        )
    emit(result.to_dict(), human=show)


@click.group()
def report() -> None:
    """Signed compliance reports for regulators."""


for _command in (compliance, incident, drill, verify):
    report.add_command(_command)
