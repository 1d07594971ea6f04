"""Operations of ``tulou detect ingest`` as a real process: SIGKILL, store down, spool trouble.

- a SIGKILLed ingest takes its parse workers with it (they lived on for minutes);
- runs while the store is down do not spool the same input again;
- a spool that cannot be written while the store is down is a clear error with the counts,
  not "cannot read <input>".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: A port nothing listens on: the Elasticsearch store is down, for real.
DOWN = "http://127.0.0.1:9/tulou-events?retry=0"


def _tulou(env: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tulou", "--json", *argv],
        cwd=env,
        env={**os.environ, "TULOU_DATA_DIR": str(env / "var")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _auth_log(path: Path, lines: int) -> Path:
    text = "".join(
        f"Mar  3 10:{i // 60 % 60:02d}:{i % 60:02d} web1 sshd[{i % 9000}]: Failed password for "
        f"root from 203.0.{i // 250 % 250}.{i % 250} port {1024 + i % 60000} ssh2\n"
        for i in range(lines)
    )
    path.write_text(text)
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_ingest_kills_its_parse_workers(tmp_path: Path) -> None:
    log = _auth_log(tmp_path / "big.log", 150_000)  # ~14 MiB: parsed in worker processes
    assert log.stat().st_size > 8 << 20
    ingest = subprocess.Popen(
        [sys.executable, "-m", "tulou", "detect", "ingest", str(log), "--store",
         f"sqlite://{tmp_path / 'e.db'}"],
        cwd=tmp_path,
        env={**os.environ, "TULOU_DATA_DIR": str(tmp_path / "var")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and ingest.poll() is None:
            workers = [
                p
                for p in _children(ingest.pid)
                if b"multiprocessing" in Path(f"/proc/{p}/cmdline").read_bytes()
            ]
            if workers:
                break
            time.sleep(0.05)
        assert workers, "the ingest finished or started no worker: make the input larger"
        ingest.send_signal(signal.SIGKILL)
        ingest.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "parse workers outlived a SIGKILLed ingest"
    finally:
        if ingest.poll() is None:
            ingest.kill()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Path]:
    _auth_log(tmp_path / "a.log", 50)
    yield tmp_path
    shutil.rmtree(tmp_path / "var", ignore_errors=True)


def test_runs_while_the_store_is_down_do_not_spool_the_input_again(env: Path) -> None:
    spool = env / "spool"
    for _ in range(3):
        run = _tulou(env, "detect", "ingest", "a.log", "--store", DOWN, "--spool", str(spool),
                     "--drain-timeout", "0")  # fmt: skip
        assert run.returncode == 7, run.stdout + run.stderr
        assert "read 50, stored 0, duplicates 0, collisions 0, dead-lettered 0, buffered 50" in (
            run.stdout
        )
    lines = sum(len(p.read_text().splitlines()) for p in spool.glob("*.ndjson"))
    assert lines == 50


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A directory nothing can be written to, root included (immutable flag; else mode 0500)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    immutable = os.geteuid() == 0 and shutil.which("chattr") is not None
    if immutable:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
    try:
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o700)


def test_unwritable_spool_with_the_store_down_is_a_clear_error(env: Path, read_only: Path) -> None:
    run = _tulou(env, "detect", "ingest", "a.log", "--store", DOWN, "--spool",
                 str(read_only / "spool"), "--drain-timeout", "0")  # fmt: skip
    assert run.returncode == 7
    error = json.loads(run.stdout)["error"]
    assert "cannot read" not in error
    assert "the store is unreachable" in error
    assert f"cannot write the spool {read_only / 'spool'}" in error
    assert "stopped while ingesting a.log" in error
    assert "stored 0, duplicates 0, dead-lettered 0, buffered 0" in error
