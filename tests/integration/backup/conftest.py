"""Fixtures for the backup integration suites: a sandbox with sources, a policy and the CLI."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tulou.cli import main

PASSPHRASE = "integration passphrase 42"


@dataclass
class Sandbox:
    root: Path
    files: Path
    db: Path
    policy: Path

    def tulou(self, *args: str, expect: int = 0) -> Any:
        """Run ``tulou --json ARGS``; check the exit code; return the parsed JSON output."""
        return self._run(list(args), expect)

    _run: Callable[[list[str], int], Any]


def make_db(path: Path, rows: int = 500) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE alerts (id INTEGER PRIMARY KEY, title TEXT, level TEXT)")
        con.execute("CREATE TABLE cases (id INTEGER PRIMARY KEY, name TEXT)")
        con.executemany(
            "INSERT INTO alerts (title, level) VALUES (?, ?)",
            [(f"alert {i}", "high" if i % 3 else "low") for i in range(rows)],
        )
        con.executemany("INSERT INTO cases (name) VALUES (?)", [(f"case {i}",) for i in range(7)])
    con.close()


def write_policy(
    path: Path, sites: list[tuple[str, str, dict[str, str]]], sources: str, extra: str = ""
) -> None:
    lines = []
    for name, url, options in sites:
        lines += ["[[sites]]", f"name = {json.dumps(name)}", f"url = {json.dumps(url)}"]
        if options:
            lines.append(
                "options = { "
                + ", ".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
                + " }"
            )
    path.write_text("\n".join(lines) + "\n" + sources + "\n" + extra + "\n")


@pytest.fixture
def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Sandbox:
    monkeypatch.setenv("TULOU_BACKUP_PASSPHRASE", PASSPHRASE)
    # Site status and drill records go under the data directory: keep it inside the test.
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path / "var"))
    files = tmp_path / "city-app"
    (files / "docs").mkdir(parents=True)
    for i in range(20):
        (files / "docs" / f"permit-{i}.txt").write_text(f"permit {i}\n" * (200 + i))
    (files / "blob.bin").write_bytes(bytes(range(256)) * 4000)
    db = tmp_path / "soc.db"
    make_db(db)
    policy = tmp_path / "backup.toml"
    sources = (
        f'[[sources]]\nname = "files"\nkind = "path"\npath = "{files}"\n'
        f'[[sources]]\nname = "soc-db"\nkind = "sqlite"\npath = "{db}"\n'
        "[objectives]\nrto_seconds = 600\nrpo_seconds = 3600\n"
    )
    write_policy(
        policy,
        [
            ("primary", str(tmp_path / "site-a"), {}),
            ("secondary", f"local:{tmp_path / 'site-b'}", {}),
        ],
        sources,
    )

    def run(args: list[str], expect: int) -> Any:
        capsys.readouterr()
        code = main(["--json", *args])
        out, err = capsys.readouterr()
        assert code == expect, f"exit {code}, expected {expect}\nstdout: {out}\nstderr: {err}"
        return json.loads(out) if out.strip() else None

    return Sandbox(tmp_path, files, db, policy, run)
