"""Benchmark: Tulou backup vs restic (Debian package) on the same data, in the same run.

Usage: python bench/backup.py [--set small|mixed|both] [--scale 1.0] [--workdir DIR]

Two data sets, as in the evaluation of issue 23:

- ``small``: a source tree of 18,500 files (~155 MB of text, sizes log-normal around 3 KB,
  in ~900 directories); the change touches 2% of the files (appends), adds 1% and deletes 0.5%.
- ``mixed``: ~503 MB: a 260 MB SQLite database, 160 MB of random files (1-16 MiB) and 83 MB
  of duplicates of them; the change updates 2% of the database's rows and rewrites 2% of
  the random bytes (in place, in the middle of files).

For each set: first backup, incremental backup after the change, restore of the latest
snapshot, full verify (``verify --read-data`` / ``check --read-data``), each timed (wall and
CPU of the command with its worker processes) for both tools one after the other, and the
repository sizes. The CPU model, its vector features and which native kernels Tulou uses are
printed first, and the load average before and after. ``--scale 0.2`` makes every set a fifth
as large (quick runs). Run it under ``flock /tmp/tulou-bench.lock``; not a test: nothing here
runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random  # noqa: TID251 - reproducible benchmark data, not secrets
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PASSPHRASE = "bench passphrase, not a secret"
STEPS = ("first backup", "incremental", "restore", "full verify")
_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512vl", "gfni", "aes", "vaes", "pclmulqdq",
          "vpclmulqdq", "sha_ni", "bmi2")  # fmt: skip


def cpu_info() -> str:
    model, flags = "?", set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and model == "?":
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
    have = [f for f in _FLAGS if f in flags]
    lack = [f for f in _FLAGS if f not in flags]
    return f"{model}, {os.cpu_count()} CPUs; has {' '.join(have)}; lacks {' '.join(lack)}"


def native_info() -> str:
    code = "from crypto import sm3, sm4; print(sm3.native_active(), sm4.native_active())"
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    sm3_on, sm4_on = [*done.stdout.split(), "?", "?"][:2]
    return f"native SM3: {sm3_on}, native SM4: {sm4_on}"


# -- the data sets ----------------------------------------------------------------------------


def _text(rng: random.Random, words: list[bytes], size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=rng.randint(3, 12))) + b"\n"
    return bytes(out[:size])


def _words(rng: random.Random) -> list[bytes]:
    letters = b"abcdefghijklmnopqrstuvwxyz_"
    return [bytes(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(3000)]


def make_small(root: Path, scale: float, seed: int = 11) -> None:
    rng = random.Random(seed)
    words = _words(rng)
    files = int(18_500 * scale)
    sizes = [int(rng.lognormvariate(8.0, 1.3)) + 50 for _ in range(files)]
    factor = (155 << 20) * scale / sum(sizes)
    dirs = [root]
    root.mkdir(parents=True)
    for i, size in enumerate(sizes):
        if i % 20 == 0:
            folder = rng.choice(dirs[-200:]) / f"pkg{i}"
            folder.mkdir()
            dirs.append(folder)
        folder = dirs[-1] if rng.random() < 0.7 else rng.choice(dirs)
        (folder / f"mod_{i}.py").write_bytes(_text(rng, words, max(20, int(size * factor))))


def change_small(root: Path, seed: int = 12) -> None:
    rng = random.Random(seed)
    files = sorted(root.rglob("*.py"))
    words = _words(rng)
    for path in rng.sample(files, len(files) // 50):  # 2% edited
        with path.open("ab") as handle:
            handle.write(_text(rng, words, 2000))
    for path in rng.sample(files, len(files) // 200):  # 0.5% deleted
        path.unlink(missing_ok=True)
    folders = sorted({p.parent for p in files})
    for i in range(len(files) // 100):  # 1% new
        (rng.choice(folders) / f"new_{i}.py").write_bytes(_text(rng, words, 4000))


def make_mixed(root: Path, scale: float, seed: int = 21) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    db = sqlite3.connect(root / "soc.db")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts TEXT, host TEXT, msg TEXT)")
    target = (260 << 20) * scale
    words = [w.decode() for w in _words(rng)]
    batch = 20_000
    n = 0
    while (root / "soc.db").stat().st_size < target:
        rows = [
            (f"2026-11-{1 + (n + j) % 28:02d}T{j % 24:02d}:00:00Z", f"web{j % 17}",
             " ".join(rng.choices(words, k=30)))
            for j in range(batch)
        ]  # fmt: skip
        db.executemany("INSERT INTO events (ts, host, msg) VALUES (?, ?, ?)", rows)
        db.commit()
        n += batch
    db.close()
    (root / "random").mkdir()
    written, i = 0, 0
    while written < (160 << 20) * scale:
        size = rng.randint(1 << 20, 16 << 20)
        (root / "random" / f"blob-{i}.bin").write_bytes(rng.randbytes(size))
        written, i = written + size, i + 1
    (root / "dups").mkdir()
    copied = 0
    for j, src in enumerate(sorted((root / "random").iterdir())):
        if copied >= (83 << 20) * scale:
            break
        shutil.copy(src, root / "dups" / f"copy-{j}-{src.name}")
        copied += src.stat().st_size


def change_mixed(root: Path, seed: int = 22) -> None:
    rng = random.Random(seed)
    db = sqlite3.connect(root / "soc.db")
    (count,) = db.execute("SELECT max(id) FROM events").fetchone()
    ids = [(f"changed {rng.random()}", i) for i in rng.sample(range(1, count + 1), count // 50)]
    db.executemany("UPDATE events SET msg = ? WHERE id = ?", ids)
    db.commit()
    db.close()
    blobs = sorted((root / "random").iterdir())
    budget = sum(p.stat().st_size for p in blobs) // 50
    while budget > 0:
        path = rng.choice(blobs)
        data = bytearray(path.read_bytes())
        at, size = len(data) // 2, min(budget, 256 << 10)
        data[at : at + size] = rng.randbytes(size)
        path.write_bytes(bytes(data))
        budget -= size


SETS: dict[str, tuple[Callable[[Path, float], None], Callable[[Path], None]]] = {
    "small": (make_small, change_small),
    "mixed": (make_mixed, change_mixed),
}


# -- timing -----------------------------------------------------------------------------------


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its workers): CPU is the load-robust one.

    Dirty pages are written out first (not timed), so that no step pays for the writeback of
    the one before it (a restore run right after the other tool's backup did).
    """
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_set(name: str, work: Path, scale: float, env: dict[str, str]) -> dict[str, object]:
    make, change = SETS[name]
    data = work / name / "data"
    make(data, scale)
    size = du(data)
    tulou = [sys.executable, "-m", "tulou.cli", "backup"]
    restic = [shutil.which("restic") or "restic", "-q"]
    trepo, rrepo = work / name / "tulou-repo", work / name / "restic-repo"
    subprocess.run([*tulou, "init", "--repo", str(trepo)], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([*restic, "init", "-r", str(rrepo)], env=env, check=True)
    commands = {
        "first backup": ([*tulou, "run", "--repo", str(trepo), str(data)],
                         [*restic, "-r", str(rrepo), "backup", str(data)]),
        "incremental": ([*tulou, "run", "--repo", str(trepo), str(data)],
                        [*restic, "-r", str(rrepo), "backup", str(data)]),
        "restore": ([*tulou, "restore", "--repo", str(trepo), "latest", "--target",
                     str(work / name / "t-out")],
                    [*restic, "-r", str(rrepo), "restore", "latest", "--target",
                     str(work / name / "r-out")]),
        "full verify": ([*tulou, "verify", "--repo", str(trepo), "--read-data"],
                        [*restic, "-r", str(rrepo), "check", "--read-data"]),
    }  # fmt: skip
    times: dict[str, dict[str, tuple[float, float]]] = {}
    for step in STEPS:
        if step == "incremental":
            change(data)
        t_cmd, r_cmd = commands[step]
        times[step] = {"tulou": timed(t_cmd, env), "restic": timed(r_cmd, env)}
    return {
        "data_mb": size / 1e6,
        "times": times,
        "repo_mb": {"tulou": du(trepo) / 1e6, "restic": du(rrepo) / 1e6},
    }


def report(name: str, result: dict[str, object]) -> None:
    times = result["times"]
    repo = result["repo_mb"]
    assert isinstance(times, dict) and isinstance(repo, dict)
    print(f"\n{name}: {result['data_mb']:.1f} MB")
    print(
        f"{'step':14}{'tulou':>9}{'restic':>9}{'wall':>7}   {'cpu tulou':>9}{'restic':>9}{'cpu':>7}"
    )
    for step in STEPS:
        (tw, tc), (rw, rc) = times[step]["tulou"], times[step]["restic"]
        print(f"{step:14}{tw:8.2f}s{rw:8.2f}s{tw / rw:7.2f}   {tc:8.2f}s{rc:8.2f}s{tc / rc:7.2f}")
    print(f"{'repository':14}{repo['tulou']:7.1f}MB{repo['restic']:7.1f}MB"
          f"{repo['tulou'] / repo['restic']:7.2f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("small", "mixed", "both"), default="both")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if shutil.which("restic") is None:
        sys.exit("restic not found: apt-get install restic")
    print(f"cpu: {cpu_info()}")
    print(native_info())
    load_before = os.getloadavg()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tulou-bench-"))
    env = dict(
        os.environ,
        TULOU_BACKUP_PASSPHRASE=PASSPHRASE,
        RESTIC_PASSWORD=PASSPHRASE,
        RESTIC_CACHE_DIR=str(work / "restic-cache"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Byte-compile Tulou's own modules first, as an installed package has them: without .pyc
    # files every command would spend ~0.15 s recompiling its sources. restic is compiled.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "tulou", "backup", "crypto"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    results = {}
    for name in ("small", "mixed") if args.set == "both" else (args.set,):
        results[name] = run_set(name, work, args.scale, env)
        report(name, results[name])
    print(f"\nload average before/after: {load_before} / {os.getloadavg()}")
    print(json.dumps(results))
    if not args.workdir:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
