"""Gateway against its peers with wrk, in one run: nginx (no checks), bare mitmproxy, oauth2-proxy.

Run: ``python -m bench gateway`` (the end of it) or ``python -m bench gateway_peers``.
Every proxy terminates TLS with the same certificate and forwards to the same upstream (an nginx
``return 200`` server, so the upstream is never the bottleneck); the load is ``wrk`` (Debian)
with the same threads, connections and duration for each, keep-alive, ``Host: hr.city.test``.

- nginx         ``proxy_pass`` with no checks: the ceiling
- bare          a bare mitmproxy reverse proxy (Core, Proxyserver, NextLayer, TlsConfig)
- tulou         ``tulou gateway run``, one process, **Redis state on** (``state.backend:
                redis``: shared rate-limit buckets with leases, replay bindings, revocation
                sync), an RS256 bearer JWT, policy, SM2 identity assertion, audit line
- tulou-memory  the same with ``state.backend: memory`` (one instance): what Redis costs
- forged        the same gateway flooded with 10 000 distinct forged RS256 tokens (wrk's Lua
                rotates them): what a token-guessing flood costs per request
- tulou-2w      ``--workers 2`` on one port (SO_REUSEPORT), same Redis
- oauth2-proxy  v7.15.6 built from the Go module proxy (cached under ~/.cache/tulou/go; about
                4 minutes the first time), validating the same kind of RS256 bearer JWT
                (``--skip-jwt-bearer-tokens``: the provider's verifier, audience = client id,
                keys from a JWKS URL; no discovery, no name lookups)

Per scenario: req/s and p99 (wrk ``--latency``), and the proxy processes' CPU time per
request from /proc (Redis's included for the Tulou rows). Scenarios run in interleaved rounds;
the best round is kept. Printed ratios: tulou / bare (target >= 0.85), forged / tulou in CPU per
request (target <= 1.0: a flood must not be a cheaper way to burn the gateway's CPU), tulou-2w /
tulou (target >= 1.8 on 2 cores), tulou / oauth2-proxy (goal >= 1.0) and tulou / nginx.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OAUTH2_PROXY = "github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6"
CACHE = Path(os.environ.get("TULOU_CACHE", Path.home() / ".cache" / "tulou"))
ISSUER = "https://bench-idp.city.test"
AUDIENCE = "tulou-gateway"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def oauth2_proxy_binary() -> Path:
    """The cached oauth2-proxy binary, built from the Go module proxy when missing."""
    binary = CACHE / "go" / "bin" / "oauth2-proxy"
    if binary.exists():
        return binary
    print(f"building oauth2-proxy ({OAUTH2_PROXY}) into {binary.parent} (about 4 minutes)")
    env = {**os.environ, "GOPATH": str(CACHE / "go"), "GOFLAGS": "-modcacherw"}
    subprocess.run(["go", "install", OAUTH2_PROXY], env=env, check=True, cwd=tempfile.gettempdir())
    return binary


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rs256(key: Any, kid: str, sub: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "email": f"{sub}@city.test",
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
        "jti": secrets.token_hex(12),
    }
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing}.{_b64(signature)}"


def _jwks(key: Any, kid: str) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()

    def as_b64(value: int) -> str:
        return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {
        "keys": [
            {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
             "n": as_b64(numbers.n), "e": as_b64(numbers.e)}
        ]
    }  # fmt: skip


def _nginx_conf(work: Path, backend: int, ceiling: int, cert: str, key: str) -> Path:
    conf = work / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/ngx-body; proxy_temp_path {work}/ngx-proxy;
  fastcgi_temp_path {work}/ngx-fcgi; uwsgi_temp_path {work}/ngx-uwsgi;
  scgi_temp_path {work}/ngx-scgi;
  upstream app {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{backend};
    location = /jwks.json {{ default_type application/json; alias {work}/jwks.json; }}
    location / {{ default_type application/json; return 200 '{{"ok": true}}'; }}
  }}
  server {{
    listen 127.0.0.1:{ceiling} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    location / {{ proxy_pass http://app; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_set_header Host $host; }}
  }}
}}
"""
    )
    return conf


def _bare(upstream: int, port: int, pem: str, confdir: str) -> None:
    from bench.gateway import _bare_proxy

    _bare_proxy(upstream, port, pem, confdir)


def _wrk(
    port: int, seconds: float, threads: int, connections: int, script: Path
) -> dict[str, float]:
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-s", str(script),
        f"https://127.0.0.1:{port}/api/people",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
    }


def _script(path: Path, tokens: list[str]) -> Path:
    """A wrk Lua script sending ``Host: hr.city.test`` and the tokens in turn."""
    listed = ",\n".join(f'"{t}"' for t in tokens)
    path.write_text(
        f"""
local tokens = {{
{listed}
}}
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/people", {{
    ["Host"] = "hr.city.test", ["Authorization"] = "Bearer " .. tokens[i]
  }})
end
"""
    )
    return path


class Peers:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: list[subprocess.Popen[Any]] = []
        self.children: list[multiprocessing.process.BaseProcess] = []

    def spawn(self, command: list[str], **kw: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(command, **kw)
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        for child in self.children:
            child.terminate()
            child.join(5)


def _gateway_config(work: Path, backend: int, redis_port: int, rsa_pub: Path) -> Path:
    import yaml

    from lab.gateway_kit import write_example

    paths = write_example(work / "gw")
    base = Path(paths["config"]).parent
    config = yaml.safe_load(Path(paths["config"]).read_text())
    config["listen"]["port"] = 0
    config["admin"]["port"] = 0
    config["routes"] = [
        {"id": "hr", "host": "hr.city.test", "upstream": f"http://127.0.0.1:{backend}"}
    ]
    config["state"] = {"backend": "redis", "url": f"redis://127.0.0.1:{redis_port}/0"}
    # the checks stay on, with budgets the load cannot exhaust (every request still spends)
    big = {"rate": 1e9, "burst": 1e9}
    config["rate_limit"] = {"subject": big, "device": big, "ip": big}
    (base / "issuers.yaml").write_text(
        yaml.safe_dump(
            {"issuers": [{"name": "bench-idp", "issuer": ISSUER, "audience": [AUDIENCE],
                          "max_lifetime": 7200,
                          "keys": [{"kid": "rs-1", "alg": "RS256", "public_key": str(rsa_pub)}]}]}
        )
    )  # fmt: skip
    (base / "policy.yaml").write_text(
        yaml.safe_dump(
            {"version": 1, "rules": [{"id": "bench", "effect": "allow", "routes": ["hr"],
                                      "methods": ["GET"], "paths": ["/api/**"]}]}
        )
    )  # fmt: skip
    path = base / "bench-gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start_gateway(peers: Peers, config: Path, workers: int) -> tuple[int, list[int]]:
    command = [sys.executable, "-m", "tulou.cli", "gateway", "run", "--config", str(config),
               "--log-level", "warning", "--workers", str(workers)]  # fmt: skip
    process = peers.spawn(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    pids = [w["pid"] for w in info.get("workers", [])] or [process.pid]
    return int(info["proxy"][1]), pids


def run_peers(
    seconds: float = 5.0, rounds: int = 2, threads: int = 2, connections: int = 16
) -> int:
    for tool in ("wrk", "nginx", "redis-server"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"peers: {tool} is not installed (scripts/debian-packages.txt); skipped")
            return 1
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    peers = Peers(work)
    try:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rsa_pub = work / "rs-1.pub.pem"
        rsa_pub.write_bytes(
            rsa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (work / "jwks.json").write_text(json.dumps(_jwks(rsa_key, "rs-1")))
        work.chmod(0o755)  # nginx workers (www-data) serve the JWKS from here
        (work / "jwks.json").chmod(0o644)
        backend, ceiling = _free_port(), _free_port()
        redis_port = _free_port()
        peers.spawn(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(work)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        config = _gateway_config(work, backend, redis_port, rsa_pub)
        gw = config.parent
        cert, key = str(gw / "pki" / "gateway.pem"), str(gw / "pki" / "gateway.key")
        pem = work / "server.pem"
        pem.write_bytes(Path(key).read_bytes() + Path(cert).read_bytes())
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = _nginx_conf(work, backend, ceiling, cert, key)
        peers.spawn([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        _wait_port(backend)
        _wait_port(redis_port)
        redis_pid = peers.processes[0].pid
        time.sleep(0.3)
        master = int((work / "nginx.pid").read_text())
        nginx_pids = [master] + [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
        ).stdout.split()]  # fmt: skip
        bare_port = _free_port()
        context = multiprocessing.get_context("spawn")
        bare = context.Process(
            target=_bare, args=(backend, bare_port, str(pem), str(work / "bare"))
        )
        bare.start()
        peers.children.append(bare)
        _wait_port(bare_port)
        tulou_port, tulou_pids = _start_gateway(peers, config, 1)
        memory = config.with_name("bench-gateway-memory.yaml")
        memory.write_text(
            config.read_text()
            .replace("backend: redis", "backend: memory")
            .replace("audit.jsonl", "audit-memory.jsonl")
        )
        memory_port, memory_pids = _start_gateway(peers, memory, 1)
        config2 = config.with_name("bench-gateway-2w.yaml")
        config2.write_text(config.read_text().replace("audit.jsonl", "audit-2w.jsonl"))
        tulou2_port, tulou2_pids = _start_gateway(peers, config2, 2)
        o2p_port = _free_port()
        binary = oauth2_proxy_binary()
        peers.spawn(
            [str(binary), f"--https-address=127.0.0.1:{o2p_port}", "--http-address=",
             f"--tls-cert-file={cert}", f"--tls-key-file={key}",
             f"--upstream=http://127.0.0.1:{backend}/", "--provider=oidc",
             f"--oidc-issuer-url={ISSUER}", "--skip-oidc-discovery",
             f"--oidc-jwks-url=http://127.0.0.1:{backend}/jwks.json",
             "--login-url=https://bench-idp.city.test/login",
             "--redeem-url=https://bench-idp.city.test/token",
             f"--client-id={AUDIENCE}", "--client-secret=bench-only",
             f"--cookie-secret={secrets.token_hex(16)}", "--email-domain=*",
             "--skip-jwt-bearer-tokens=true",
             "--cookie-secure=false", "--pass-host-header=true"],
            stdout=subprocess.DEVNULL, stderr=(work / "oauth2-proxy.log").open("w"),
        )  # fmt: skip
        _wait_port(o2p_port)
        o2p_pid = peers.processes[-1].pid
        good = _script(work / "good.lua", [_rs256(rsa_key, "rs-1", "alice")])
        attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = _script(
            work / "forged.lua", [_rs256(attacker, "rs-1", f"u{i}") for i in range(10_000)]
        )
        plain = work / "plain.lua"
        plain.write_text(
            'wrk.headers["Host"] = "hr.city.test"\n'
            f'wrk.headers["Authorization"] = "Bearer {_rs256(rsa_key, "rs-1", "alice")}"\n'
        )
        scenarios: dict[str, tuple[int, list[int], Path]] = {
            "nginx": (ceiling, nginx_pids, plain),
            "bare": (bare_port, [bare.pid or 0], plain),
            "tulou": (tulou_port, [*tulou_pids, redis_pid], good),
            "tulou-memory": (memory_port, memory_pids, good),
            "tulou-2w": (tulou2_port, [*tulou2_pids, redis_pid], good),
            "oauth2-proxy": (o2p_port, [o2p_pid], plain),
            # last: the flood empties this address's authentication-failure bucket (shared),
            # which holds back *new* tokens from it for a while (tokens verified before pass)
            "forged": (tulou_port, [*tulou_pids, redis_pid], forged),
        }
        best: dict[str, dict[str, float]] = {}
        for _ in range(rounds):
            for name, (port, pids, script) in scenarios.items():
                _wrk(port, 1, threads, connections, script)  # warm-up
                before = _cpu_seconds(pids)
                result = _wrk(port, seconds, threads, connections, script)
                result["cpu_us"] = (
                    1e6 * (_cpu_seconds(pids) - before) / max(1.0, result["requests"])
                )
                if name not in best or result["rps"] > best[name]["rps"]:
                    best[name] = result
        _report(best, seconds, rounds, threads, connections)
        if os.environ.get("TULOU_BENCH_KEEP"):
            print(f"kept {work}; ports {json.dumps({k: v[0] for k, v in scenarios.items()})}")
    finally:
        peers.close()
        if not os.environ.get("TULOU_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _report(
    best: dict[str, dict[str, float]], seconds: float, rounds: int, threads: int, conns: int
) -> None:
    print(
        f"\npeers (wrk -t{threads} -c{conns}, {seconds:g} s, best of {rounds}; "
        f"load {os.getloadavg()[0]:.1f}):"
    )
    print(f"{'scenario':14} {'req/s':>8} {'p99 ms':>8} {'non-2xx':>8} {'CPU us/req':>11}")
    for name, r in best.items():
        share = r["non2xx"] / max(1.0, r["requests"])
        print(f"{name:14} {r['rps']:8.0f} {r['p99_ms']:8.2f} {share:8.0%} {r['cpu_us']:11.0f}")

    def ratio(a: str, b: str, key: str = "rps") -> str:
        return (
            f"{best[a][key] / best[b][key]:.2f}x"
            if a in best and b in best and best[b][key]
            else "-"
        )

    print(
        f"tulou / bare mitmproxy (Redis state on): {ratio('tulou', 'bare')} req/s (target >= 0.85)"
    )
    print(
        "forged flood / allowed, CPU per request: "
        f"{ratio('forged', 'tulou', 'cpu_us')} (target <= 1.0)"
    )
    print(
        f"2 workers / 1 worker: {ratio('tulou-2w', 'tulou')} req/s (target >= 1.8 on 2 free cores)"
    )
    ours = best.get("tulou", {}).get("p99_ms", 0.0)
    theirs = best.get("oauth2-proxy", {}).get("p99_ms", 0.0)
    print(
        f"tulou / oauth2-proxy: {ratio('tulou', 'oauth2-proxy')} req/s (goal >= 1.0); "
        f"p99 {ours:.1f} vs {theirs:.1f} ms"
    )
    print(f"tulou / nginx (no checks): {ratio('tulou', 'nginx')} req/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    return run_peers(options.seconds, options.rounds, options.threads, options.connections)


if __name__ == "__main__":
    sys.exit(main())
