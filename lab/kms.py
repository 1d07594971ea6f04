"""A crypto service for lab scenarios: ``tulou crypto serve`` in its own process on loopback.

The city's departments as service accounts (tokens random per run; the config holds only
their SM3 digests) and the policy of the range: civil affairs seals datasets for the tax
bureau through the ``exchange`` ring; each department uses its own ``records`` ring.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from crypto.service.client import KmsClient
from crypto.sm3 import sm3
from tulou.errors import UnavailableError

DEPARTMENTS = ("admin", "civil-affairs", "tax")
POLICY = [
    {
        "id": "admin",
        "callers": ["service:admin"],
        "operations": ["tenant-create", "ring-create", "key-create", "key-read"],
    },
    {
        "id": "civil-own",
        "callers": ["service:civil-affairs"],
        "tenants": ["civil"],
        "keys": ["*"],
        "operations": ["encrypt", "decrypt", "generate-data-key", "sign", "verify", "public-key"],
    },
    {
        "id": "tax-own",
        "callers": ["service:tax"],
        "tenants": ["tax"],
        "keys": ["*"],
        "operations": ["encrypt", "decrypt"],
    },
    {
        "id": "exchange-seal",
        "callers": ["service:civil-affairs"],
        "tenants": ["civil"],
        "keys": ["exchange/*"],
        "operations": ["generate-data-key", "sign"],
    },
    {
        "id": "exchange-open",
        "callers": ["service:tax"],
        "tenants": ["civil"],
        "keys": ["exchange/*"],
        "operations": ["decrypt", "verify", "public-key"],
    },
]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def crypto_service(workdir: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """Start the service; yield (url, tokens by department, audit file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _port()
    tokens = {name: secrets.token_urlsafe(24) for name in DEPARTMENTS}
    lines = [f'data_dir = "{workdir / "kms"}"', f"port = {port}", "master_iterations = 10000"]
    for name, token in tokens.items():
        lines += ["[[accounts]]", f'name = "{name}"', f'token_sm3 = "{sm3(token.encode()).hex()}"']
    for rule in POLICY:
        lines.append("[[policy]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in rule.items()]
    config = workdir / "kms.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "TULOU_MASTER_PASSPHRASE": secrets.token_urlsafe(24)}
    log = (workdir / "kms.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tulou", "crypto", "serve", "-c", str(config)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise UnavailableError(
                    f"the crypto service did not start (see {workdir / 'kms.log'})"
                )
            try:
                if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with KmsClient(url, tokens["admin"]) as admin:
            for tenant, rings in (("civil", ("records", "exchange")), ("tax", ("records",))):
                admin.request("POST", "/v1/tenants", {"tenant": tenant})
                for ring in rings:
                    admin.request("POST", f"/v1/tenants/{tenant}/rings", {"ring": ring})
        yield url, tokens, workdir / "kms" / "audit.jsonl"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
