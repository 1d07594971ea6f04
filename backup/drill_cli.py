"""The ``tulou drill`` command group: run a drill, verify a drill record, list scenarios."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import click

from backup import policy as policy_mod
from backup import service, soc_report
from backup.drill import SCENARIOS, Drill, run_and_sign
from backup.policy import Policy
from crypto.sm2 import SM2PublicKey
from tulou.allocator import keep_large_buffers
from tulou.clikit import app, emit, json_option
from tulou.contracts import drill as drill_record
from tulou.errors import UsageError, VerificationError


@click.group()
def drill() -> None:
    """Disaster-recovery drills with measured RTO/RPO, signed records and SOC alerts."""
    keep_large_buffers()


@drill.command("list")
@json_option
def list_scenarios() -> None:
    """List the drill scenarios."""
    emit(list(SCENARIOS), "\n".join(SCENARIOS))


@drill.command("run")
@click.argument("scenario", type=click.Choice(SCENARIOS))
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TULOU_BACKUP_POLICY",
    required=True,
    help="Backup policy (TOML).",
)
@click.option(
    "--scratch",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to restore (default: a new temporary directory).",
)
@click.option(
    "--records",
    "records_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the record (default: <data_dir>/backup/drills, where the reports "
    "read drill records).",
)
@click.option(
    "--inject",
    is_flag=True,
    help="Really cause the incident first (DESTRUCTIVE: for sandboxes and test ranges).",
)
@click.option(
    "--incident-time",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
    help="Declared incident time (default: now); RPO is measured from it.",
)
@click.option("--soc-url", help="SOC base URL for alerts (default: the policy's soc.url).")
@json_option
def run(  # noqa: PLR0917 - click passes options positionally
    scenario: str,
    policy_file: Path,
    scratch: Path | None,
    records_dir: Path | None,
    inject: bool,
    incident_time: datetime | None,
    soc_url: str | None,
) -> None:
    """Run SCENARIO, write an SM2-signed drill record, alert the SOC if it failed or was late.

    Exit 0 when the drill passed, 5 when it failed or missed an objective.
    """
    policy = policy_mod.load(policy_file)
    passphrase = policy.passphrase()
    if not passphrase:
        raise UsageError(f"set {policy.passphrase_env} (the repository passphrase)")
    if incident_time is not None and incident_time.tzinfo is None:
        incident_time = incident_time.astimezone()
    scratch = scratch or Path(tempfile.mkdtemp(prefix=f"tulou-drill-{scenario}-"))
    record = run_and_sign(
        Drill(policy, passphrase, scenario, scratch, inject=inject, incident_time=incident_time)
    )
    folder = records_dir or drill_record.directory(app().settings.data_dir)
    path = drill_record.write(record, folder)
    soc = soc_report.report(record, soc_url or policy.soc_url, policy.soc_token_env)
    if record["outcome"] != "passed":
        # One JSON document: under --json the error document names the record and SOC result.
        if not app().json_output:
            _print(record, path, soc)
        raise VerificationError(
            f"drill {scenario} {record['outcome']}: {record['error'] or 'see the record'}; "
            f"record: {path}; SOC report: {soc}"
        )
    emit({"record": str(path), "soc": soc, **record}, lambda: _print(record, path, soc))


def _print(record: dict[str, object], path: Path, soc: dict[str, object]) -> None:
    rto, rpo = record["rto"], record["rpo"]
    assert isinstance(rto, dict) and isinstance(rpo, dict)
    click.echo(f"drill {record['scenario']}: {str(record['outcome']).upper()}")
    for phase in record["phases"]:  # type: ignore[attr-defined]
        click.echo(
            f"  {phase['seconds']:9.3f}s  {'ok ' if phase['ok'] else 'BAD'}  {phase['name']}"
        )
    for check in record["checks"]:  # type: ignore[attr-defined]
        click.echo(f"  check {'ok ' if check['ok'] else 'BAD'} {check['name']}")
    click.echo(
        f"  RTO achieved {rto['achieved_seconds']}s / objective {rto['objective_seconds']}s"
        f"  RPO achieved {rpo['achieved_seconds']}s / objective {rpo['objective_seconds']}s"
    )
    click.echo(f"  record: {path} (verify: tulou drill verify {path})  SOC: {soc}")


@drill.command("verify")
@click.argument("record_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--fingerprint",
    envvar="TULOU_DRILL_SIGNER",
    help="The SM2 key fingerprint the record must be signed with.",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TULOU_BACKUP_POLICY",
    help="Require the policy's pinned signing_key_fingerprint, or else the signing key of "
    "the policy's repository.",
)
@click.option("--repo", help="Require the signing key of the repository at this site URL.")
@json_option
def verify(
    record_file: Path, fingerprint: str | None, policy_file: Path | None, repo: str | None
) -> None:
    """Verify a drill record's SM2 signature against the repository's signing key; show
    achieved vs objective RTO/RPO.

    The signer is always pinned: a record re-signed with any other key fails (exit 5). The key
    comes from --fingerprint, else the policy's signing_key_fingerprint, else the config of the
    repository (--policy or --repo); with none of them the record is not checked (exit 2).
    """
    source = "--fingerprint"
    if fingerprint is None:
        if repo:
            policy: Policy | None = policy_mod.single_site(repo)
        elif policy_file is not None:
            policy = policy_mod.load(policy_file)
        else:
            policy = None
        if policy is None:
            raise UsageError(
                "a drill record is checked against the repository's signing key: give "
                "--policy FILE, --repo URL or --fingerprint FP"
            )
        fingerprint, source = service.signing_fingerprint(policy)
    record = drill_record.verify(
        drill_record.read(record_file), SM2PublicKey.from_der, fingerprint
    ).document
    rto, rpo = record["rto"], record["rpo"]
    summary = {
        "valid": True,
        "scenario": record["scenario"],
        "outcome": record["outcome"],
        "signer": record["signer"]["fingerprint"],
        "pinned": True,
        "pinned_by": source,
        "rto": rto,
        "rpo": rpo,
        "restore_point": record["restore_point"],
    }
    emit(
        summary,
        f"signature OK (signer {summary['signer'][:16]}, the key required by {source})\n"
        f"{record['scenario']}: {record['outcome']}\n"
        f"RTO achieved {rto['achieved_seconds']}s vs objective {rto['objective_seconds']}s"
        f" ({'met' if rto['met'] else 'MISSED'})\n"
        f"RPO achieved {rpo['achieved_seconds']}s vs objective {rpo['objective_seconds']}s"
        f" ({'met' if rpo['met'] else 'MISSED'})",
    )
