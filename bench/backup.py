"""Benchmark: Tulou backup vs restic (Debian package) on the same data, in the same run.

Usage: python bench/backup.py [--size-mb 100] [--full] [--workdir DIR]

Generates mixed data (random bytes, log-like text, duplicates of both), backs it up, modifies
it (edits, appends, deletions, new files) and backs up again, then restores and fully verifies
(`verify --read-data` / `check --read-data`) with both tools, and prints each time, the
repository sizes and the Tulou/restic ratios. ``--full`` uses the ~500 MB data set of the
issue. Not a test: nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random  # noqa: TID251 - reproducible benchmark data, not secrets
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PASSPHRASE = "bench passphrase, not a secret"


def generate(root: Path, size_mb: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    budget = size_mb << 20
    random_part, log_part = budget * 4 // 10, budget * 4 // 10
    (root / "bin").mkdir()
    written = 0
    i = 0
    while written < random_part:
        size = rng.randint(256 << 10, 8 << 20)
        (root / "bin" / f"blob-{i}.bin").write_bytes(rng.randbytes(size))
        written, i = written + size, i + 1
    (root / "logs").mkdir()
    hosts = [f"web{n}" for n in range(8)]
    written = i = 0
    while written < log_part:
        lines = [
            f"2026-11-{1 + j % 28:02d}T{j % 24:02d}:{j % 60:02d}:{(j * 7) % 60:02d}Z "
            f"{rng.choice(hosts)} nginx: {rng.randint(1, 255)}.{rng.randint(0, 255)}.0.1 "
            f'"GET /api/v1/permits/{rng.randint(1, 10**6)} HTTP/1.1" {rng.choice((200, 404, 500))} '
            f"{rng.randint(100, 90000)}\n"
            for j in range(20000)
        ]
        data = "".join(lines).encode()
        (root / "logs" / f"access-{i}.log").write_bytes(data)
        written, i = written + len(data), i + 1
    (root / "dup").mkdir()  # the remaining ~20%: duplicates of existing files
    sources = sorted((root / "bin").iterdir())[:3] + sorted((root / "logs").iterdir())[:3]
    for n, src in enumerate(sources):
        shutil.copy(src, root / "dup" / f"copy-{n}-{src.name}")


def modify(root: Path, seed: int = 8) -> None:
    rng = random.Random(seed)
    blobs = sorted((root / "bin").iterdir())
    for path in blobs[::5]:  # edit in the middle
        data = bytearray(path.read_bytes())
        at = len(data) // 2
        data[at : at + 4096] = rng.randbytes(4096)
        path.write_bytes(bytes(data))
    for path in sorted((root / "logs").iterdir())[::4]:  # logs grow
        with path.open("ab") as handle:
            handle.write(b"2026-11-30T00:00:00Z web1 nginx: appended line\n" * 5000)
    for path in blobs[1::7]:
        path.unlink()
    (root / "bin" / "new.bin").write_bytes(rng.randbytes(5 << 20))


#: CPU seconds (user + system, the command and its worker processes) per timed step, by label.
CPU: dict[str, float] = {}


def timed(cmd: list[str], env: dict[str, str], label: str = "") -> float:
    """Wall-clock seconds of ``cmd``; its CPU time goes to :data:`CPU` under ``label``.

    CPU time is the load-robust number: on a shared machine other jobs stretch the wall clock
    of both tools, but not the processor time each one needs.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        CPU[label] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--full", action="store_true", help="~500 MB, as in the issue")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    size = 500 if args.full else args.size_mb
    restic = shutil.which("restic")
    if restic is None:
        sys.exit("restic not found: apt-get install restic")
    load_before = os.getloadavg()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tulou-bench-"))
    data = work / "data"
    generate(data, size)
    env = dict(
        os.environ,
        TULOU_BACKUP_PASSPHRASE=PASSPHRASE,
        RESTIC_PASSWORD=PASSPHRASE,
        RESTIC_CACHE_DIR=str(work / "restic-cache"),
    )
    tulou = [sys.executable, "-m", "tulou.cli"]
    # Byte-compile Tulou's own modules first, as an installed package has them: without .pyc
    # files (PYTHONDONTWRITEBYTECODE, as in the development shell) every command would spend
    # ~0.15 s recompiling its sources. restic is a compiled binary.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "tulou", "backup", "crypto"],
        cwd=Path(__file__).resolve().parents[1],
        env={k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    trepo, rrepo = work / "tulou-repo", work / "restic-repo"
    subprocess.run(
        [*tulou, "backup", "init", "--repo", str(trepo)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run([restic, "init", "-q", "-r", str(rrepo)], env=env, check=True)
    results: dict[str, dict[str, float]] = {"tulou": {}, "restic": {}}
    results["tulou"]["first backup"] = timed(
        [*tulou, "backup", "run", "--repo", str(trepo), str(data)], env, "tulou first backup"
    )
    results["restic"]["first backup"] = timed(
        [restic, "-q", "-r", str(rrepo), "backup", str(data)], env, "restic first backup"
    )
    modify(data)
    results["tulou"]["incremental"] = timed(
        [*tulou, "backup", "run", "--repo", str(trepo), str(data)], env, "tulou incremental"
    )
    results["restic"]["incremental"] = timed(
        [restic, "-q", "-r", str(rrepo), "backup", str(data)], env, "restic incremental"
    )
    results["tulou"]["restore"] = timed(
        [
            *tulou,
            "backup",
            "restore",
            "--repo",
            str(trepo),
            "latest",
            "--target",
            str(work / "t-out"),
        ],
        env,
        "tulou restore",
    )
    results["restic"]["restore"] = timed(
        [restic, "-q", "-r", str(rrepo), "restore", "latest", "--target", str(work / "r-out")],
        env,
        "restic restore",
    )
    results["tulou"]["full verify"] = timed(
        [*tulou, "backup", "verify", "--repo", str(trepo), "--read-data"], env, "tulou full verify"
    )
    results["restic"]["full verify"] = timed(
        [restic, "-q", "-r", str(rrepo), "check", "--read-data"], env, "restic full verify"
    )
    results["tulou"]["repo MB"] = du(trepo) / 1e6
    results["restic"]["repo MB"] = du(rrepo) / 1e6
    print(f"data: {du(data) / 1e6:.1f} MB (after modification) in {work}")
    print(f"load average before/after: {load_before} / {os.getloadavg()}")
    print(f"{'':14}{'tulou':>10}{'restic':>10}{'ratio':>8}   cpu: tulou   restic   ratio")
    for key in results["tulou"]:
        t, r = results["tulou"][key], results["restic"][key]
        unit = "" if key == "repo MB" else "s"
        line = f"{key:14}{t:9.2f}{unit:1}{r:9.2f}{unit:1}{t / r:8.2f}"
        if key != "repo MB":
            tc, rc = CPU[f"tulou {key}"], CPU[f"restic {key}"]
            line += f"   {tc:9.2f}s{rc:8.2f}s{tc / rc:8.2f}"
        print(line)
    print(json.dumps({**results, "cpu": CPU}))
    if not args.workdir:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
