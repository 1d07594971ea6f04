"""``detect hunt`` over a folder of EVTX files with SigmaHQ's Windows rules, against Zircolite.

Run: ``python -m bench hunt [--evtx DIR] [--rules DIR] [--zircolite ZIRCOLITE.PY]
[--zircolite-args ARGS] [--runs N]``.

Defaults: the EVTX corpus and SigmaHQ's ``rules/windows`` in ../shared/data
(``TULOU_SHARED_DIR`` overrides ../shared). Tulou runs
``tulou detect hunt DIR --rules RULES --json`` in a child process with a fresh data directory
(cold: every rule converted) and then again (warm: rules from the content caches); wall time
and the child's CPU (user + system) are measured for each. With ``--zircolite`` (a checkout's
``zircolite.py``; Zircolite is not on any package registry), the same evidence and rules run
through it in the same run, interleaved with Tulou's runs, and the script prints the ratios
(Zircolite seconds / Tulou seconds: >= 1.0 means Tulou is at least as fast) and the rules
that fired in only one of the two (by title). Run it under ``flock /tmp/tulou-bench.lock``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: ../shared/data beside the repository (``TULOU_SHARED_DIR`` overrides, as for the tests).
SHARED = (
    Path(os.environ.get("TULOU_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
    / "data"
)


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``argv``: (wall seconds, the child's CPU seconds from RUSAGE_CHILDREN, stdout)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode()[-2000:])
        raise SystemExit(f"{argv[0]} exited {done.returncode}")
    return wall, cpu, done.stdout.decode()


def tulou_titles(output: str) -> set[str]:
    return {line["title"] for line in json.loads(output)["by_rule"]}


def zircolite_titles(path: Path) -> set[str]:
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    return {str(item.get("title")) for item in data if item.get("count", 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evtx", type=Path, default=SHARED / "evtx")
    parser.add_argument("--rules", type=Path, default=SHARED / "sigmahq" / "rules" / "windows")
    parser.add_argument("--zircolite", type=Path, help="path to zircolite.py (a checkout)")
    parser.add_argument(
        "--zircolite-args",
        default="--evtx {evtx} --ruleset {rules} --outfile {out}",
        help="Zircolite's arguments ({evtx}, {rules}, {out} are filled in)",
    )
    parser.add_argument("--runs", type=int, default=2, help="warm runs of each tool")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="bench-hunt-"))
    env = {**os.environ, "TULOU_DATA_DIR": str(work / "tulou-data")}
    env.pop("TULOU_ES_URL", None)
    tulou = [sys.executable, "-m", "tulou", "--json", "detect", "hunt", str(args.evtx)]
    tulou += ["--rules", str(args.rules)]
    wall, cpu, out = run_child(tulou, env)
    ours = tulou_titles(out)
    counts = json.loads(out)
    print(
        f"tulou cold: {wall:.2f} s wall, {cpu:.2f} s CPU; {counts['ingest']['stored']} events, "
        f"{counts['detections']} detections from {len(ours)} rules"
    )
    results: dict[str, list[tuple[float, float]]] = {"tulou": [], "zircolite": []}
    theirs: set[str] = set()
    for n in range(args.runs):
        wall, cpu, out = run_child(tulou, env)
        results["tulou"].append((wall, cpu))
        print(f"tulou warm {n + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
        if args.zircolite is not None:
            target = work / f"zircolite-{n}.json"
            fill = {"evtx": str(args.evtx), "rules": str(args.rules), "out": str(target)}
            extra = [part.format(**fill) for part in shlex.split(args.zircolite_args)]
            argv = [sys.executable, str(args.zircolite), *extra]
            wall, cpu, _ = run_child(argv, {**os.environ})
            results["zircolite"].append((wall, cpu))
            theirs = zircolite_titles(target)
            print(f"zircolite {n + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    if results["zircolite"]:
        best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in results.items()}
        print(
            f"ratio (zircolite / tulou, best of {args.runs}): wall "
            f"{best['zircolite'][0] / best['tulou'][0]:.2f}x, CPU "
            f"{best['zircolite'][1] / best['tulou'][1]:.2f}x"
        )
        print(f"rules fired by both: {len(ours & theirs)}")
        print(f"only tulou: {sorted(ours - theirs)}")
        print(f"only zircolite: {sorted(theirs - ours)}")
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
