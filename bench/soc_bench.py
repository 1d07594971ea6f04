"""SOC latency benchmark (not a test): seed N alerts, then p50/p95 of list, filter, detail,
metrics, the search language, and the queue / search / detail / dashboard pages (HTML) with C
concurrent clients against a real ``tulou soc serve`` on loopback.

    .venv/bin/python bench/soc_bench.py --alerts 1000000 --clients 50 --seconds 20

Seeding writes rows with bulk INSERTs (the ingest API's per-alert grouping logic is measured by
the tests, not here); the server is a separate process so client and server do not share a GIL.
Results are printed as a table and as JSON (``--json``).

The load generator shares the machine's cores with the server. ``--generator httpx`` (default)
runs the clients as asyncio tasks in this Python process; ``--generator wrk`` uses ``wrk``
(C, ``apt-get install wrk``; each of its connections is one closed-loop client, like the
httpx ones). Either way the report gives the generator's CPU share (CPU seconds per wall
second: 1.0 = one whole core taken from the server). ``--server-pythonpath DIR`` serves from
another source tree (e.g. a ``git archive`` of an older commit) for same-run before/after.

``--ingest-rate R`` adds a writer during the read load: a thread posting one new alert every
1/R s to ``POST /api/v1/alerts/ingest`` (the service API detect uses; each alert has a new
dedup key, so each is an INSERT that bumps the data version and invalidates every cached queue
and detail body). Its schedule is fixed (a late post does not make the next one earlier or
later); the report gives per workload how many alerts were ingested during it and the ingest
latency p50/p95. Each ingested alert stays in the database: use a copy of a seeded directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random  # noqa: TID251 - synthetic benchmark data, not secrets
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from soc import auth  # noqa: E402
from soc.db import Database  # noqa: E402
from soc.models import Alert, AlertTag, utcnow  # noqa: E402
from tulou.contracts.alert import Alert as DetectAlert  # noqa: E402

LEVELS = ["informational", "low", "medium", "high", "critical"]
STATUSES = ["new", "acknowledged", "investigating", "resolved"]
TAGS = ["attack.t1110", "attack.t1046", "attack.t1078", "attack.t1059", "attack.t1190"]


def seed(db: Database, count: int, batch: int = 20_000) -> None:
    rng = random.Random(7)
    now = utcnow()
    done = 0
    started = time.monotonic()
    while done < count:
        n = min(batch, count - done)
        rows, tags = [], []
        for i in range(done, done + n):
            created = now - timedelta(seconds=rng.randint(0, 90 * 86400))
            status = rng.choice(STATUSES)
            level = rng.randrange(5)
            ack = created + timedelta(seconds=rng.randint(30, 7200)) if status != "new" else None
            res = (
                ack + timedelta(seconds=rng.randint(60, 86400))
                if status == "resolved" and ack
                else None
            )
            rows.append(
                {
                    "id": i + 1,
                    "dedup_key": f"dk-{i}",
                    "rule_id": f"rule-{rng.randrange(300)}",
                    "rule_hash": "0" * 64,
                    "title": f"bench alert {i}",
                    "description": "",
                    "severity": LEVELS[level],
                    "severity_rank": level,
                    "tags": [],
                    "host": f"host-{rng.randrange(2000)}",
                    "source_ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(9)}",
                    "user_name": f"user-{rng.randrange(5000)}",
                    "fields": {},
                    "status": status,
                    "closing_reason": rng.choice(["true_positive", "false_positive"])
                    if res
                    else None,
                    "assignee_id": None,
                    "case_id": None,
                    "count": 1,
                    "first_seen": created,
                    "last_seen": created,
                    "created_at": created,
                    "acknowledged_at": ack,
                    "resolved_at": res,
                    "version": 1,
                }
            )
            tags.append({"alert_id": i + 1, "tag": rng.choice(TAGS)})
        with db.write() as session:
            session.execute(insert(Alert), rows)
            session.execute(insert(AlertTag), tags)
        done += n
        print(
            f"\rseeded {done}/{count} ({time.monotonic() - started:.0f} s)", end="", file=sys.stderr
        )
    print(file=sys.stderr)


async def client_loop(  # noqa: PLR0917 - a private helper
    base: str,
    token: str,
    name: str,
    paths: list[str],
    until: float,
    samples: list[float],
    errors: list[str],
) -> None:
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        rng = random.Random(name)
        while time.monotonic() < until:
            path = rng.choice(paths)
            t0 = time.perf_counter()
            r = await client.get(path)
            samples.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                errors.append(f"{path} -> {r.status_code}")


_WRK_SCRIPT = """
local token = os.getenv("BENCH_TOKEN")
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS"), "[^ ]+") do table.insert(paths, p) end
local i = math.random(#paths)
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], {["Authorization"] = "Bearer " .. token})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "p50_ms": %.1f, "p95_ms": %.1f, "errors": %d}\\n',
    summary.requests, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def wrk_run(
    base: str, token: str, clients: int, seconds: float, paths: list[str]
) -> dict[str, float]:
    """One workload with wrk: ``clients`` connections, each a closed-loop client."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT)
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_PATHS": " ".join(paths)}
    try:
        out = subprocess.run(
            [
                *("wrk", "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s"),
                *("--timeout", "30s", "-s", script.name, base),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return {
        "requests": data["requests"],
        "rps": round(data["requests"] / seconds, 1),
        "p50_ms": data["p50_ms"],
        "p95_ms": data["p95_ms"],
        "errors": data["errors"],
    }


class IngestWriter:
    """Posts one new alert every ``1 / rate`` s through the ingest API until stopped."""

    def __init__(self, base: str, token: str, rate: float) -> None:
        self.base, self.token, self.rate = base, token, rate
        self.done: list[tuple[float, float]] = []  # (monotonic end, latency ms) per good post
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _alert(self, n: int) -> dict[str, object]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return DetectAlert.from_dict(
            {
                "rule_id": f"rule-{n % 300}",
                "rule_hash": "b" * 64,
                "title": f"bench ingest {n}",
                "level": LEVELS[n % 5],
                "event_ids": [f"bench-ev-{time.time_ns()}-{n}"],
                "dedup_key": f"bench-ingest-{time.time_ns()}-{n}",
                "first_seen": now,
                "last_seen": now,
                "tags": [TAGS[n % len(TAGS)]],
                "description": "",
                "fields": {"host.name": f"host-{n % 2000}", "source.ip": "192.0.2.9"},
            }
        ).to_dict()

    def _run(self) -> None:
        with httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        ) as client:
            start = time.monotonic()
            n = 0
            while not self._stop.is_set():
                n += 1
                due = start + n / self.rate
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                t0 = time.perf_counter()
                try:
                    r = client.post("/api/v1/alerts/ingest", json={"alerts": [self._alert(n)]})
                except httpx.HTTPError as exc:
                    self.errors.append(type(exc).__name__)
                    continue
                if r.status_code != 200 or r.json().get("rejected"):
                    self.errors.append(f"{r.status_code} {r.text[:100]}")
                    continue
                self.done.append((time.monotonic(), (time.perf_counter() - t0) * 1000))

    def between(self, t0: float, t1: float) -> dict[str, float]:
        lat = [ms for end, ms in self.done if t0 <= end < t1]
        qs = statistics.quantiles(lat * 2 if len(lat) == 1 else lat, n=100) if lat else None
        return {
            "ingested": len(lat),
            "ingest_p50_ms": round(qs[49], 1) if qs else float("nan"),
            "ingest_p95_ms": round(qs[94], 1) if qs else float("nan"),
        }


async def measure(  # noqa: PLR0917 - a private helper
    base: str,
    token: str,
    clients: int,
    seconds: float,
    count: int,
    only: set[str],
    generator: str = "httpx",
    writer: IngestWriter | None = None,
) -> dict[str, dict[str, float]]:
    rng = random.Random(1)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    workloads = {
        "list": ["/api/v1/alerts?limit=50"],
        "filter": [
            "/api/v1/alerts?status=new&severity=critical&limit=50",
            f"/api/v1/alerts?host=host-{rng.randrange(2000)}&limit=50",
            f"/api/v1/alerts?rule_id=rule-{rng.randrange(300)}&limit=50",
            "/api/v1/alerts?technique=T1110&limit=50",
            f"/api/v1/alerts?since={since.replace('+', '%2B')}&limit=50",
        ],
        "detail": [f"/api/v1/alerts/{rng.randrange(1, count + 1)}" for _ in range(200)],
        "metrics": ["/api/v1/metrics?days=7"],
        # The search language (soc/query.py) through the API; relative times are never cached.
        "search": [
            "/api/v1/alerts?q=severity%3A%3E%3Dhigh%20-status%3Aresolved&limit=50",
            f"/api/v1/alerts?q=host%3Ahost-{rng.randrange(2000)}%20OR%20user%3Auser-{rng.randrange(5000)}&limit=50",
            "/api/v1/alerts?q=rule%3Arule-12%20created%3A%3Enow-7d&limit=50",
            "/api/v1/alerts?q=technique%3AT1110%20severity%3Acritical&limit=50",
        ],
        # Server-rendered pages (HTML; the Bearer token authenticates pages too).
        "queue-page": ["/alerts"],
        "search-page": [
            "/alerts?q=severity%3A%3E%3Dhigh%20-status%3Aresolved",
            f"/alerts?q=host%3Ahost-{rng.randrange(2000)}",
        ],
        "detail-page": [f"/alerts/{rng.randrange(1, count + 1)}" for _ in range(200)],
        "dashboard-page": ["/dashboard"],
    }
    results = {}
    for name, paths in workloads.items():
        if only and name not in only:
            continue
        cpu0 = _cpu_seconds()
        wall0 = time.monotonic()
        if generator == "wrk":
            results[name] = wrk_run(base, token, clients, seconds, paths)
        else:
            samples: list[float] = []
            errors: list[str] = []
            until = time.monotonic() + seconds
            await asyncio.gather(
                *(
                    client_loop(base, token, f"{name}{i}", paths, until, samples, errors)
                    for i in range(clients)
                )
            )
            qs = statistics.quantiles(samples * 2 if len(samples) == 1 else samples, n=100)
            results[name] = {
                "requests": len(samples),
                "rps": round(len(samples) / seconds, 1),
                "p50_ms": round(qs[49], 1),
                "p95_ms": round(qs[94], 1),
                "errors": len(errors),
            }
        results[name]["generator_cpu_share"] = round(
            (_cpu_seconds() - cpu0) / (time.monotonic() - wall0), 2
        )
        if writer is not None:
            results[name].update(writer.between(wall0, time.monotonic()))
        print(f"{name:8} {results[name]}", file=sys.stderr)
    return results


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (wrk runs as one)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--dir", type=Path, default=None, help="reuse a seeded data dir")
    parser.add_argument("--workers", type=int, default=1, help="tulou soc serve --workers")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated workloads (list,filter,detail,metrics,search,queue-page,"
        "search-page,detail-page,dashboard-page)",
    )
    parser.add_argument("--generator", choices=("httpx", "wrk"), default="httpx")
    parser.add_argument(
        "--server-pythonpath",
        type=Path,
        default=None,
        help="serve from this source tree (with --dir: a database that tree has migrated)",
    )
    parser.add_argument(
        "--ingest-rate",
        type=float,
        default=0.0,
        help="alerts/s posted through the ingest API during the reads (0: reads only)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.generator == "wrk" and shutil.which("wrk") is None:
        parser.error("--generator wrk needs wrk (apt-get install wrk)")
    data_dir = args.dir or Path(tempfile.mkdtemp(prefix="tulou-soc-bench-"))
    db = Database(f"sqlite:///{data_dir / 'soc' / 'soc.db'}")
    if args.server_pythonpath is None:
        db.upgrade()  # else the other tree's server migrates it (to its own newest revision)
    with db.write() as session:
        fresh = session.get(Alert, 1) is None
    if fresh:
        seed(db, args.alerts)
    with db.write() as session:
        try:
            auth.create_user(session, "bench", "admin", "bench password long enough")
        except Exception:  # noqa: BLE001 - reused dir: the user exists
            session.rollback()
    with db.write() as session:
        token = auth.create_token(session, "bench", f"bench-{time.time()}")
    db.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TULOU_DATA_DIR": str(data_dir)}
    env.pop("TULOU_DB_URL", None)
    if args.server_pythonpath:
        env["PYTHONPATH"] = str(args.server_pythonpath.resolve())
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/tulou"),
            "soc",
            "serve",
            "--port",
            str(port),
            *(["--workers", str(args.workers)] if args.workers != 1 else []),
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/api/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        only = {w for w in args.only.split(",") if w}
        load_before = [round(x, 2) for x in os.getloadavg()]
        writer = IngestWriter(base, token, args.ingest_rate) if args.ingest_rate > 0 else None
        if writer is not None:
            writer.start()
        try:
            results = asyncio.run(
                measure(
                    base,
                    token,
                    args.clients,
                    args.seconds,
                    args.alerts,
                    only,
                    args.generator,
                    writer,
                )
            )
        finally:
            if writer is not None:
                writer.stop()
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {
        "alerts": args.alerts,
        "clients": args.clients,
        "server_processes": args.workers,
        "generator": args.generator,
        "server_pythonpath": str(args.server_pythonpath or ""),
        "load_average_before": load_before,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "database": "sqlite",
        "ingest_rate": args.ingest_rate,
        "ingest_errors": writer.errors[:10] if writer is not None else [],
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
