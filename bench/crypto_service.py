"""Crypto service benchmark: operations through HTTP beside OpenSSL and the local library.

Run: ``python -m bench.crypto_service [--seconds S]`` (under ``flock /tmp/tulou-bench.lock``).
It starts ``tulou crypto serve`` on loopback (plain HTTP, keep-alive, quotas off) and measures,
in the same run and on the same cores (client and server share the machine):

- SM2 sign and verify through ``/v1/batch`` (200 items per request, 2 client threads) vs
  ``openssl speed sm2`` on one core and with ``-multi`` over all cores;
- SM4-GCM encryption of 4 KiB records through ``/v1/batch`` (64 per request) vs the local
  library encrypting the same records in the same format in one thread;
- single-sign latency at 50 concurrent callers: closed loop (each caller sends its next request
  when the last returns) and open loop (each caller at a fixed 8 requests/s);
- operations/s next to published cloud KMS request quotas (docs/performance.md cites them).

Wall-clock rates (the service is a separate process); ``uptime`` load is printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from crypto import sm4
from crypto.sm3 import sm3

B64 = base64.b64encode


def _openssl_sm2(seconds: int, multi: int | None) -> tuple[float, float]:
    args = ["openssl", "speed", "-elapsed", "-seconds", str(seconds)]  # wall clock, as ours
    if multi:
        args += ["-multi", str(multi)]
    out = subprocess.run([*args, "sm2"], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if "SM2" in ln and "bits" in ln)
    numbers = re.findall(r"[0-9.]+", line.split(")")[-1])
    return float(numbers[-2]), float(numbers[-1])


class Server:
    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.token = secrets.token_urlsafe(24)
        config = workdir / "kms.toml"
        config.write_text(
            "\n".join(
                [
                    f'data_dir = "{workdir / "kms"}"',
                    f"port = {self.port}",
                    "master_iterations = 1000",
                    "body_limit = 4194304",
                    "[quota]",
                    "rate = 0",
                    "[[accounts]]",
                    'name = "bench"',
                    f'token_sm3 = "{sm3(self.token.encode()).hex()}"',
                    "[[policy]]",
                    'id = "all"',
                    'callers = ["service:bench"]',
                    'operations = ["*"]',
                ]
            )
            + "\n"
        )
        env = {**os.environ, "TULOU_MASTER_PASSPHRASE": secrets.token_urlsafe(16)}
        self.log = (workdir / "kms.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tulou", "crypto", "serve", "-c", str(config)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the crypto service did not start") from None
                time.sleep(0.2)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def _headers() -> dict[str, str]:
    return {
        "X-Tulou-Request-Id": secrets.token_hex(12),
        "X-Tulou-Request-Time": str(int(time.time() * 1000)),
    }


def call(client: httpx.Client, path: str, body: object) -> dict:  # type: ignore[type-arg]
    response = client.post(path, json=body, headers=_headers())
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def batch_rate(server: Server, items: list[dict], seconds: float, threads: int = 2) -> float:  # type: ignore[type-arg]
    done = [0] * threads
    clients = [server.client() for _ in range(threads)]
    for client in clients:
        call(client, "/v1/batch", {"items": items[:1]})  # connected and warm before the clock
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        client = clients[index]
        while time.monotonic() < stop:
            results = call(client, "/v1/batch", {"items": items})["results"]
            if not all(r["ok"] for r in results):
                raise RuntimeError(results[0])
            done[index] += len(results)
        client.close()

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.monotonic() - began)


def latency(
    server: Server, callers: int, seconds: float, per_caller_rate: float | None
) -> dict[str, float]:
    samples: list[float] = []
    lock = threading.Lock()
    body = {"data": B64(b"single sign").decode()}
    clients = [server.client() for _ in range(callers)]
    for client in clients:
        call(client, "/v1/keys/bench/ring/signer/sign", body)  # connected before the clock
    stop = time.monotonic() + seconds

    def worker(client: httpx.Client) -> None:
        mine: list[float] = []
        try:
            next_at = time.monotonic()
            while time.monotonic() < stop:
                if per_caller_rate:
                    next_at += 1.0 / per_caller_rate
                    pause = next_at - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                began = time.perf_counter()
                call(client, "/v1/keys/bench/ring/signer/sign", body)
                mine.append(time.perf_counter() - began)
        finally:
            client.close()
        with lock:
            samples.extend(mine)

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - began
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] * 1000  # noqa: E731
    return {
        "requests_per_s": len(samples) / elapsed,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "n": len(samples),
    }


def bulk_rate(server: Server, records: list[bytes], seconds: float, threads: int = 2) -> float:
    """4 KiB records through ``encrypt-bulk`` (binary frames, no JSON/base64)."""
    body = b"".join(len(r).to_bytes(4, "big") + r for r in records)
    done = [0] * threads
    clients = [server.client() for _ in range(threads)]
    headers = {
        "X-Tulou-Encryption-Context": '{"table": "t"}',
        "content-type": "application/octet-stream",
    }

    def post(client: httpx.Client) -> None:
        response = client.post(
            "/v1/keys/bench/ring/data/encrypt-bulk", content=body, headers={**_headers(), **headers}
        )
        response.raise_for_status()

    for client in clients:
        post(client)
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        while time.monotonic() < stop:
            post(clients[index])
            done[index] += len(records)
        clients[index].close()

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.monotonic() - began)


_WRK_SCRIPT = """
local counter = 0
local thread_id = 0
setup = function(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
request = function()
  counter = counter + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. token
  headers["Content-Type"] = "application/json"
  headers["X-Tulou-Request-Id"] = string.format("wrk-%d-%d-%d", tid, counter, math.random(1e9))
  headers["X-Tulou-Request-Time"] = string.format("%d", os.time() * 1000)
  local body = '{"data": "c2luZ2xlIHNpZ24="}'
  return wrk.format("POST", "/v1/keys/bench/ring/signer/sign", headers, body)
end
"""


def wrk_latency(server: Server, connections: int, seconds: float) -> dict[str, float] | None:
    """Single signs at ``connections`` concurrent keep-alive callers, driven by wrk (C), so
    the load generator's own cost does not queue the requests; None if wrk is absent."""
    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"token = {json.dumps(server.token)}\n" + _WRK_SCRIPT)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{int(seconds)}s",
            "--latency",
            "-s",
            script.name,
            server.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        found = re.search(rf"^\s*{label}\s+([0-9.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found is None:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": float(rate.group(1)) if rate else float("nan"),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def local_seal_rate(records: list[bytes], seconds: float) -> float:
    key = sm4.generate_key()
    count, stop = 0, time.monotonic() + seconds
    began = time.monotonic()
    while time.monotonic() < stop:
        for record in records:
            sm4.seal(key, record, aad=b"TKMS-header-and-context")
        count += len(records)
    return count / (time.monotonic() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    seconds = args.seconds
    cores = len(os.sched_getaffinity(0))
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; cores {cores}")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            with server.client() as admin:
                call(admin, "/v1/tenants", {"tenant": "bench"})
                call(admin, "/v1/tenants/bench/rings", {"ring": "ring"})
                call(admin, "/v1/tenants/bench/rings/ring/keys", {"name": "signer", "type": "sm2"})
                call(admin, "/v1/tenants/bench/rings/ring/keys", {"name": "data", "type": "sm4"})
                signature = call(
                    admin, "/v1/keys/bench/ring/signer/sign", {"data": B64(b"m").decode()}
                )["signature"]
            sign_items = [
                {"operation": "sign", "key": "bench/ring/signer", "data": B64(b"m%d" % i).decode()}
                for i in range(200)
            ]
            verify_items = [
                {
                    "operation": "verify",
                    "key": "bench/ring/signer",
                    "data": B64(b"m").decode(),
                    "signature": signature,
                }
            ] * 200
            records = [secrets.token_bytes(4096) for _ in range(64)]
            seal_items = [
                {
                    "operation": "encrypt",
                    "key": "bench/ring/data",
                    "plaintext": B64(r).decode(),
                    "context": {"table": "t"},
                }
                for r in records
            ]
            ossl_sign, ossl_verify = _openssl_sm2(int(max(1, seconds)), None)
            multi_sign, multi_verify = (
                _openssl_sm2(int(max(1, seconds)), cores) if cores > 1 else (ossl_sign, ossl_verify)
            )
            svc_sign = batch_rate(server, sign_items, seconds)
            svc_verify = batch_rate(server, verify_items, seconds)
            svc_seal = batch_rate(server, seal_items, seconds)
            svc_bulk = bulk_rate(server, records, seconds)
            local_seal = local_seal_rate(records, seconds)
            closed = latency(server, 50, seconds, None)
            opened = latency(server, 50, seconds, 8.0)
            wrk_closed = wrk_latency(server, 50, seconds)
        finally:
            server.close()
    rows = {
        "sm2_sign": {
            "service_per_s": svc_sign,
            "openssl_1core": ossl_sign,
            f"openssl_{cores}core": multi_sign,
            "ratio_1core": svc_sign / ossl_sign,
            f"ratio_{cores}core": svc_sign / multi_sign,
        },
        "sm2_verify": {
            "service_per_s": svc_verify,
            "openssl_1core": ossl_verify,
            f"openssl_{cores}core": multi_verify,
            "ratio_1core": svc_verify / ossl_verify,
            f"ratio_{cores}core": svc_verify / multi_verify,
        },
        "sm4_gcm_4k": {
            "json_batch_records_per_s": svc_seal,
            "bulk_records_per_s": svc_bulk,
            "local_records_per_s": local_seal,
            "ratio_json_batch": svc_seal / local_seal,
            "ratio_bulk": svc_bulk / local_seal,
            "bulk_mb_s": svc_bulk * 4096 / 1e6,
        },
        "sign_latency_50_closed": closed,
        "sign_latency_50_open_8rps_each": opened,
        "sign_latency_50_wrk": wrk_closed,
        "load_after": os.getloadavg()[0],
    }
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
