"""N gateway instances sharing state in one real Redis (issue 16, "N instances sharing state").

Two gateway processes (separate ports, separate admin listeners, one audit file each) and one
redis-server from tests/fixtures/redis.py:

- a token presented through one instance and replayed from another device through the other
  is refused;
- a brute force split across both instances is throttled as one;
- a revocation pushed to one instance is enforced by both, and cuts the live connection the
  other instance holds for that subject;
- with Redis down, the replay check fails closed (503, audited) while rate limits fall back
  to local buckets.

And ``tulou gateway run --workers 2``: two processes on one port, both serving, reloaded by
SIGHUP and drained by SIGTERM.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.redis import RedisProcess
from tests.integration.gateway.conftest import ROOT, Pki, RunningGateway, call, write_setup
from tests.integration.gateway.test_abuse_resistance import forged

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


def shared(redis_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "state": {"backend": "redis", "url": redis_url, "sync_interval": 0.5, **extra},
        "rate_limit": {
            "subject": None,
            "device": None,
            "ip": None,
            "auth_failure": {"rate": 0.05, "burst": 6},
        },
    }


@pytest.fixture
def pair(start_gateway: Any, redis_url: str) -> tuple[RunningGateway, RunningGateway]:
    return start_gateway("a", **shared(redis_url)), start_gateway("b", **shared(redis_url))


def test_a_token_replayed_through_the_other_instance_is_refused(
    pair: tuple[RunningGateway, RunningGateway], pki: Pki, upstream: Any
) -> None:
    a, b = pair
    token = pki.token("es-1")
    response, _ = call(a, pki, token=token, device="alice-laptop")
    assert response.status_code == 200
    before = len(upstream.received)
    response, event = call(b, pki, token=token, device="bob-laptop")  # stolen, other device
    assert response.status_code == 401
    assert "replayed" in event["event.reason"]
    assert len(upstream.received) == before
    response, _ = call(b, pki, token=token, device="alice-laptop")  # its own device: fine
    assert response.status_code == 200


def test_a_brute_force_split_across_instances_is_throttled_as_one(
    pair: tuple[RunningGateway, RunningGateway], pki: Pki
) -> None:
    statuses = []
    for index in range(16):
        target = pair[index % 2]
        response, _ = call(target, pki, token=forged(pki, f"guess{index}"))
        statuses.append(response.status_code)
    assert statuses[:6] == [401] * 6  # one budget of 6 for the address, not 6 per instance
    assert statuses[6:] == [429] * 10


def test_a_revocation_on_one_instance_is_enforced_by_both(
    pair: tuple[RunningGateway, RunningGateway], pki: Pki
) -> None:
    a, b = pair
    # an HTTP/2 connection to instance b stays open across requests (the recording upstream
    # speaks HTTP/1.0, which would end an HTTP/1 client connection after each response)
    with pki.client("alice-laptop", http2=True) as live:
        headers = {"Host": "hr.city.test", "Authorization": f"Bearer {pki.token('es-1')}"}
        assert live.get(f"{b.url}/api/people", headers=headers).status_code == 200
        pushed = httpx.post(
            f"http://127.0.0.1:{a.admin}/revoke",
            json={"kind": "subjects", "value": "alice"},
            timeout=5,
        )
        assert pushed.status_code == 200 and pushed.json()["action"] == "revoked"
        # published at once and re-synced every 0.5 s here; the bound is generous for a busy CI
        deadline = time.monotonic() + 5.0
        closed = b""
        while time.monotonic() < deadline:
            metrics = b.admin_get("/metrics").text
            if 'tulou_gateway_connections_closed_total{reason="revoked"}' in metrics:
                closed = b"yes"
                break
            time.sleep(0.05)
        assert closed, "instance b did not cut alice's live connection"
    for instance in (a, b):
        response, event = call(instance, pki, token=pki.token("es-1"))
        assert response.status_code == 403 and event["rule.id"] == "builtin:revoked"
    assert any(
        e.get("event.action") == "gateway-state" and "revoked subjects alice" in e["event.reason"]
        for e in a.audit()
    )


def test_a_timed_block_of_an_address_expires(
    pair: tuple[RunningGateway, RunningGateway], pki: Pki
) -> None:
    a, b = pair
    pushed = httpx.post(
        f"http://127.0.0.1:{b.admin}/revoke",
        json={"kind": "addresses", "value": "127.0.0.1", "ttl": 1.5},
        timeout=5,
    )
    assert pushed.json()["action"] == "blocked"
    time.sleep(0.6)
    response, event = call(a, pki, "/public/x")
    assert response.status_code == 403 and event["rule.id"] == "builtin:blocked"
    time.sleep(1.6)
    response, _ = call(a, pki, "/public/x")
    assert response.status_code == 200


def test_redis_down_fails_closed_for_replay_and_degrades_rate_limits(
    start_gateway: Any, redis_server: RedisProcess, redis_url: str, pki: Pki
) -> None:
    settings = shared(redis_url, revocation_staleness=30)
    settings["rate_limit"]["ip"] = {"rate": 100, "burst": 200}
    gateway = start_gateway("down", **settings)
    known = pki.token("es-1")
    assert call(gateway, pki, token=known)[0].status_code == 200
    redis_server.stop()
    try:
        response, event = call(gateway, pki, token=pki.token("es-1"))  # a new token
        assert response.status_code == 503
        assert event["rule.id"] == "builtin:state-unavailable"
        # a token whose binding this instance confirmed, and anonymous traffic, still pass
        assert call(gateway, pki, token=known)[0].status_code == 200
        assert call(gateway, pki, "/public/x")[0].status_code == 200
        states = [e for e in gateway.audit() if e.get("event.action") == "gateway-state"]
        kinds = {e["tulou.state.kind"] for e in states}
        assert {"store", "rate_limits"} <= kinds, states
    finally:
        redis_server.start()


def test_revocations_fail_closed_when_redis_stays_down(
    start_gateway: Any, redis_server: RedisProcess, redis_url: str, pki: Pki
) -> None:
    gateway = start_gateway("stale", **shared(redis_url, revocation_staleness=1.0))
    known = pki.token("es-1")
    assert call(gateway, pki, token=known)[0].status_code == 200
    redis_server.stop()
    try:
        time.sleep(1.8)
        response, event = call(gateway, pki, token=known)
        assert response.status_code == 503
        assert "revocations cannot be confirmed" in event["event.reason"]
    finally:
        redis_server.start()
    time.sleep(1.2)
    assert call(gateway, pki, token=known)[0].status_code == 200


def test_workers_share_one_port_reload_and_drain(
    tmp_path: Path, pki: Pki, upstream: Any, redis_url: str
) -> None:
    path = write_setup(tmp_path / "w", pki, upstream.server_address[1], **shared(redis_url))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tulou.cli",
            "gateway",
            "run",
            "--config",
            str(path),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert len(info["workers"]) == 2
        port = info["proxy"][1]
        gateway = RunningGateway(process, port, info["admin"][1], path.parent, path.parent / "x")
        for _ in range(24):  # new connections: the kernel spreads them over both workers
            assert call(gateway, pki, "/public/x")[0].status_code == 200
        served = []
        for worker in info["workers"]:
            text = httpx.get(f"http://127.0.0.1:{worker['admin'][1]}/metrics", timeout=5).text
            served.append(sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("tulou_gateway_decisions_total{")
            ))  # fmt: skip
        assert all(count > 0 for count in served), served
        process.send_signal(signal.SIGHUP)  # every worker reloads
        deadline = time.monotonic() + 5
        reloaded = False
        while not reloaded and time.monotonic() < deadline:
            reloaded = all(
                'file="policy",result="ok"} 2'
                in httpx.get(f"http://127.0.0.1:{w['admin'][1]}/metrics", timeout=5).text
                for w in info["workers"]
            )
            time.sleep(0.1)
        assert reloaded
        process.send_signal(signal.SIGUSR2)  # rolling restart, one worker at a time
        rolled = json.loads(process.stdout.readline())
        assert rolled["event"] == "rolled"
        old, new = {w["pid"] for w in info["workers"]}, {w["pid"] for w in rolled["workers"]}
        assert len(new) == 2 and not old & new
        for _ in range(6):  # the same port, served by the new workers
            assert call(gateway, pki, "/public/x")[0].status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        if process.stdout is not None:
            process.stdout.close()
