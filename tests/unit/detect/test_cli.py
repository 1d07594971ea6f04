"""``tulou detect ingest / search / tail`` end to end on SQLite, through tulou.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tulou.cli import main

AUTH = (
    b"Mar  3 10:00:01 web1 sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2\n"
    b"Mar  3 10:00:02 web1 sshd[1]: Accepted password for Alice from 10.0.0.5 port 2 ssh2\n"
    b"\xff\xfe not a log line\n"
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TULOU_ES_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "auth.log").write_bytes(AUTH)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_ingest_twice_then_search(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, first = run(capsys, "detect", "ingest", "auth.log")
    assert code == 0
    assert {k: first[k] for k in ("read", "stored", "duplicates", "dead_lettered")} == {
        "read": 3,
        "stored": 2,
        "duplicates": 0,
        "dead_lettered": 1,
    }
    code, second = run(capsys, "detect", "ingest", "auth.log", "--format", "auth")
    assert (second["stored"], second["duplicates"], second["reconciles"]) == (0, 2, True)
    dead = [json.loads(x) for x in (env / "var/detect/dead-letter.ndjson").read_text().splitlines()]
    assert dead[0]["position"] == len(b"".join(AUTH.splitlines(keepends=True)[:2]))
    assert dead[0]["original_base64"]  # not UTF-8: kept byte for byte
    code, found = run(
        capsys, "detect", "search", "-f", "user.name=alice", "-f", "event.outcome=success"
    )
    assert code == 0
    assert [e["source.ip"] for e in found["events"]] == ["10.0.0.5"]  # type: ignore[index]
    code, counted = run(
        capsys,
        "detect",
        "search",
        "--count",
        "--since",
        "2020-01-01T00:00:00Z",
        "-f",
        "source.port=1",
    )
    assert counted == {"count": 1}


def test_tail_once(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = run(capsys, "detect", "tail", "auth.log", "--once")
    assert (code, summary["stored"]) == (0, 2)
    with (env / "auth.log").open("ab") as handle:
        handle.write(b"Mar  3 10:00:09 web1 sshd[1]: Invalid user x from 1.2.3.4 port 3\n")
    code, summary = run(capsys, "detect", "tail", "auth.log", "--once")
    assert (summary["read"], summary["stored"]) == (1, 1)


def test_unknown_format_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "ingest", "auth.log", "--format", "nope"]) == 2


def test_unreachable_store_buffers_and_exits_7(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = run(
        capsys,
        "detect",
        "ingest",
        "auth.log",
        "--store",
        "http://127.0.0.1:9/idx?retry=0.5",
        "--drain-timeout",
        "0",
    )
    assert (code, summary["exit_code"]) == (7, 7)
    assert "buffered 2" in str(summary["error"])
    assert "read 3, stored 0, duplicates 0, collisions 0, dead-lettered 1" in str(summary["error"])
    spooled = list((env / "var/detect/spool").rglob("*.ndjson"))
    assert len(spooled) == 1
    code, replay = run(capsys, "detect", "ingest", "auth.log")  # SQLite store: replays nothing
    assert replay["replayed"] == {"stored": 0, "duplicates": 0, "collisions": 0}
