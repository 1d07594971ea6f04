"""The key store survives a kill -9 of the service in the middle of rotations."""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from pathlib import Path

from crypto.service.client import KmsClient
from tests.fixtures.cryptoservice import start_service
from tulou.errors import TulouError

ACCOUNTS = {"admin": {"roles": ["kms-admin"]}}
POLICY = [{"id": "all", "callers": ["role:kms-admin"], "operations": ["*"]}]
KEY = "dept/ring/rotating"


def _hammer(client: KmsClient, stop: threading.Event, acknowledged: list[tuple[int, str]]) -> None:
    """Rotate and encrypt until the server dies; record what the server acknowledged."""
    while not stop.is_set():
        try:
            client.request("POST", client.key_url(KEY) + "/rotate")
            out = client.encrypt(KEY, b"acknowledged payload")
        except TulouError:
            return
        acknowledged.append((out["version"], out["ciphertext"]))


def test_kill_during_rotation_leaves_a_consistent_store(tmp_path: Path) -> None:
    rng = secrets.SystemRandom()
    acknowledged: list[tuple[int, str]] = []
    for round_number in range(2):
        with start_service(tmp_path, ACCOUNTS, POLICY) as kms:
            client = KmsClient(kms.url, kms.tokens["admin"])
            if round_number == 0:
                client.request("POST", "/v1/tenants", {"tenant": "dept"})
                client.request("POST", "/v1/tenants/dept/rings", {"ring": "ring"})
                client.create_key(KEY, "sm4")
            # Everything acknowledged before the previous kill is still there and decrypts.
            record = client.request("GET", client.key_url(KEY))
            versions = [v["version"] for v in record["versions"]]
            assert versions == list(range(1, len(versions) + 1))
            assert record["primary"] == versions[-1]
            for version, ciphertext in acknowledged:
                assert version <= record["primary"]
                assert client.decrypt(KEY, ciphertext) == b"acknowledged payload"
            stop = threading.Event()
            worker = threading.Thread(target=_hammer, args=(client, stop, acknowledged))
            worker.start()
            time.sleep(rng.uniform(0.4, 1.2))
            os.kill(kms.process.pid, signal.SIGKILL)  # mid-rotation, most likely mid-write
            kms.process.wait()
            stop.set()
            worker.join(10)
            client.close()
        # No temporary file may be mistaken for a record; the record parses as JSON.
        tenant, ring, name = KEY.split("/")
        path = tmp_path / "kms/store/tenants" / tenant / "rings" / ring / "keys" / f"{name}.json"
        json.loads(path.read_text())
    assert len(acknowledged) >= 3, "the hammer never got going"
    with start_service(tmp_path, ACCOUNTS, POLICY) as kms:
        client = KmsClient(kms.url, kms.tokens["admin"])
        for _version, ciphertext in acknowledged:
            assert client.decrypt(KEY, ciphertext) == b"acknowledged payload"
        assert not list((tmp_path / "kms/store").rglob("*.tmp"))
        client.close()
