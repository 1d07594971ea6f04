"""The ``tulou soc`` commands: serve, db upgrade, users, tokens, rules, audit verify/head.

Secrets never come from the command line: passwords are prompted for (or read from stdin with
``--password-stdin``), tokens are printed once on stdout and stored hashed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from soc import audit, auth, config, rules
from soc.db import Database
from tulou.clikit import app, emit, json_option
from tulou.errors import UsageError, VerificationError


def attach(group: click.Group) -> None:
    """Add the SOC commands to ``group`` (the ``tulou soc`` group of soc.cli)."""
    for command in (serve, db_group, user_group, token_group, rules_group, audit_group):
        group.add_command(command)


def _db() -> Database:
    db = config.database(app().settings)
    db.upgrade()
    return db


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--insecure-cookies",
    is_flag=True,
    help="Send session cookies over plain HTTP too (local development only; behind TLS never).",
)
@click.option(
    "--metrics-cache",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds the metrics may be reused (0: compute on every request).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes (each has its own connection pool and metrics cache).",
)
def serve(host: str, port: int, insecure_cookies: bool, metrics_cache: float, workers: int) -> None:
    """Serve the SOC API (OpenAPI at /api/openapi.json) and web UI."""
    from soc.serve import ServeOptions, run  # noqa: PLC0415 - only serving needs uvicorn

    ctx = app()
    db = _db()
    catalogue = config.rules_dir()
    if catalogue is not None:
        # The ATT&CK matrix follows the deployed rules, without anyone running 'rules load'.
        with db.write() as session:
            loaded, problems = rules.load_dir(session, catalogue)
        click.echo(f"tulou soc: rule catalogue from {catalogue}: {loaded} rule(s)", err=True)
        for problem in problems:
            click.echo(f"tulou soc: {problem}", err=True)
    options = ServeOptions(
        config_file=str(ctx.config_file.resolve()) if ctx.config_file else None,
        cookie_secure=not insecure_cookies,
        metrics_ttl=metrics_cache,
    )
    click.echo(
        f"tulou soc: serving on http://{host}:{port} ({db.dialect}, {workers} process(es))",
        err=True,
    )
    run(options, db, host=host, port=port, workers=workers)


@click.group("db")
def db_group() -> None:
    """The SOC database."""


@db_group.command("upgrade")
@json_option
def db_upgrade() -> None:
    """Create or migrate the SOC database to the newest schema (idempotent)."""
    db = _db()
    emit({"ok": True, "dialect": db.dialect}, human=f"SOC database is up to date ({db.dialect})")


@click.group("user")
def user_group() -> None:
    """Local users and their roles."""


@user_group.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(auth.ROLES),
    required=True,
    help="analyst, officer, regulator, admin, or service (token-only machine account).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@json_option
def user_add(username: str, role: str, password_stdin: bool) -> None:
    """Create a user (humans are asked for a password; service accounts have none)."""
    password = None
    if role != "service":
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    db = _db()
    with db.write() as session:
        user = auth.create_user(session, username, role, password)
        audit.append(
            session,
            config.audit_hash(),
            actor="cli",
            action="user.create",
            target=f"user:{username}",
            detail={"role": role},
        )
        data = {"username": user.username, "role": user.role}
    emit(data, human=f"created {role} {username}")


@click.group("token")
def token_group() -> None:
    """API tokens (for services such as detect, and scripts)."""


@token_group.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (e.g. detect-ingest).")
@json_option
def token_create(username: str, name: str) -> None:
    """Issue a token for USERNAME; it is printed once and stored only hashed."""
    db = _db()
    with db.write() as session:
        token = auth.create_token(session, username, name)
        audit.append(
            session,
            config.audit_hash(),
            actor="cli",
            action="token.create",
            target=f"user:{username}",
            detail={"name": name},
        )
    emit({"username": username, "name": name, "token": token}, human=token)


@token_group.command("revoke")
@click.argument("username")
@click.option("--name", default=None, help="Only the token(s) with this name.")
@json_option
def token_revoke(username: str, name: str | None) -> None:
    """Revoke USERNAME's tokens."""
    db = _db()
    with db.write() as session:
        count = auth.revoke_tokens(session, username, name)
        audit.append(
            session,
            config.audit_hash(),
            actor="cli",
            action="token.revoke",
            target=f"user:{username}",
            detail={"name": name, "count": count},
        )
    emit({"revoked": count}, human=f"revoked {count} token(s)")


@click.group("rules")
def rules_group() -> None:
    """The rule catalogue behind the ATT&CK coverage matrix."""


@rules_group.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_option
def rules_load(directory: Path) -> None:
    """Load the Sigma rules under DIRECTORY into the catalogue."""
    db = _db()
    with db.write() as session:
        loaded, problems = rules.load_dir(session, directory)
    emit(
        {"loaded": loaded, "problems": problems},
        human="\n".join([f"loaded {loaded} rule(s)", *problems]),
    )


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail (SM3 hash chain)."""


def _anchor(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise UsageError("--anchor is SEQ:HASH as printed by 'tulou soc audit head'")
    return int(seq), digest.lower()


@audit_group.command("verify")
@click.option("--anchor", default=None, help="SEQ:HASH kept elsewhere (detects truncation).")
@json_option
def audit_verify(anchor: str | None) -> None:
    """Walk the chain; exit 5 and say where if any record was edited, deleted or reordered."""
    db = _db()
    with db.read() as session:
        verdict = audit.verify(session, config.audit_hash(), anchor=_anchor(anchor))
    data = verdict.to_dict()
    lines = [f"checked {verdict.checked} record(s); head {verdict.head_seq}:{verdict.head_hash}"]
    lines += [f"record {p.seq}: {p.kind}: {p.message}" for p in verdict.problems]
    emit(data, human="\n".join(lines))
    if not verdict.ok:
        first = verdict.problems[0]
        raise VerificationError(
            f"audit chain broken at record {first.seq} ({first.kind}); "
            f"{len(verdict.problems)} problem(s)"
        )


@audit_group.command("head")
@json_option
def audit_head() -> None:
    """Print the newest record as SEQ:HASH (keep it elsewhere; pass it to verify --anchor)."""
    db = _db()
    with db.read() as session:
        verdict = audit.verify(session, config.audit_hash())
    emit(
        {"seq": verdict.head_seq, "hash": verdict.head_hash},
        human=f"{verdict.head_seq}:{verdict.head_hash}",
    )
