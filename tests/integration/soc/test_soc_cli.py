"""``tulou soc``: users, tokens, rules and ``audit verify`` finding tampering in the database."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from soc.app import create_app
from soc.db import Database
from tulou.cli import main


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TULOU_DB_URL", raising=False)
    monkeypatch.delenv("TULOU_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv, stdin=""):
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv))
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def test_users_tokens_and_a_verified_chain(env, capsys):
    assert run(capsys, "soc", "db", "upgrade")[0] == 0
    code, out, err = run(
        capsys,
        "--json",
        "soc",
        "user",
        "add",
        "ana",
        "--role",
        "analyst",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert code == 0, err
    assert json.loads(out) == {"username": "ana", "role": "analyst"}
    code, _, err = run(
        capsys, "soc", "user", "add", "x", "--role", "analyst", "--password-stdin", stdin="short\n"
    )
    assert code == 2 and "至少需要 12 个字符" in err
    assert run(capsys, "soc", "user", "add", "detect", "--role", "service")[0] == 0
    code, out, _ = run(capsys, "--json", "soc", "token", "create", "detect", "--name", "ingest")
    token = json.loads(out)["token"]
    assert token.startswith("tulou_")

    # The token works against the service, and the database is the one the CLI set up.
    db = Database(f"sqlite:///{env / 'soc' / 'soc.db'}")
    client = TestClient(create_app(db, hash_fn=sm3))
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {
        "username": "detect",
        "role": "service",
        "via": "token",
        "locale": None,
        "issued_by": None,  # minted by the CLI, not by another user
    }
    client.close()
    db.dispose()

    code, out, _ = run(capsys, "--json", "soc", "audit", "verify")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["checked"] == 3
    code, out, _ = run(capsys, "soc", "audit", "head")
    assert out.startswith("3:")
    code, _, err = run(capsys, "soc", "token", "revoke", "detect")
    assert code == 0


@pytest.mark.parametrize(
    ("tamper", "where"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", "record 2 (edited)"),
        ("DELETE FROM audit_log WHERE seq = 2", "record 3 (gap)"),
        (
            "UPDATE audit_log SET seq = 100 WHERE seq = 2; "
            "UPDATE audit_log SET seq = 2 WHERE seq = 3; "
            "UPDATE audit_log SET seq = 3 WHERE seq = 100;",
            "record 2 (relinked)",
        ),
        ("DELETE FROM audit_log WHERE seq = 4", "record 3 (truncated)"),
    ],
)
def test_audit_verify_finds_and_locates_tampering(env, capsys, tamper, where):
    for name in ("a1", "a2", "a3", "a4"):
        assert run(capsys, "soc", "user", "add", name, "--role", "service")[0] == 0
    assert run(capsys, "soc", "audit", "verify")[0] == 0
    with sqlite3.connect(env / "soc" / "soc.db") as conn:
        conn.executescript(tamper)
    code, _, err = run(capsys, "soc", "audit", "verify")
    assert code == 5
    assert where in err, err


def test_an_external_anchor_catches_a_rewritten_tail(env, capsys):
    for name in ("a1", "a2", "a3"):
        run(capsys, "soc", "user", "add", name, "--role", "service")
    _, anchor, _ = run(capsys, "soc", "audit", "head")
    with sqlite3.connect(env / "soc" / "soc.db") as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
        prev = conn.execute("SELECT hash FROM audit_log WHERE seq = 2").fetchone()[0]
        conn.execute("UPDATE audit_head SET seq = 2, hash = ?", (prev,))
    assert run(capsys, "soc", "audit", "verify")[0] == 0  # consistent on its own...
    code, _, err = run(capsys, "soc", "audit", "verify", "--anchor", anchor.strip())
    assert code == 5 and "truncated" in err  # ...but not with the anchor kept elsewhere


def test_rules_load_collects_problems(env, capsys, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(
        "title: Brute force\nid: r-1\ntags: [attack.credential_access, attack.t1110]\n"
    )
    (rules / "broken.yml").write_text("title: [unclosed\n")
    (rules / "pipeline.yml").write_text("name: a pipeline\n")
    code, out, _ = run(capsys, "--json", "soc", "rules", "load", str(rules))
    data = json.loads(out)
    assert code == 0 and data["loaded"] == 1 and len(data["problems"]) == 1
