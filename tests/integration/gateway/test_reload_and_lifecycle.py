"""Hot reload with validation, upstream failure, rate limits, health, and graceful shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.integration.gateway.conftest import (
    ROOT,
    Pki,
    RunningGateway,
    call,
    stop,
    write_setup,
)


def reloads(gateway: RunningGateway, file: str, result: str) -> int:
    prefix = f'tulou_gateway_reloads_total{{file="{file}",result="{result}"}} '
    for line in gateway.admin_get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return int(float(line[len(prefix) :]))
    return 0


def wait_for(gateway: RunningGateway, file: str, result: str, above: int) -> None:
    deadline = time.monotonic() + 10
    while reloads(gateway, file, result) <= above:
        assert time.monotonic() < deadline, f"no {result} reload of {file}"
        time.sleep(0.05)


def test_broken_policy_reload_keeps_the_last_good_one(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    gateway = start_gateway()
    good = gateway.admin_get("/readyz").json()["policy_sha256"]
    assert call(gateway, pki, token=pki.token())[0].status_code == 200
    policy = gateway.directory / "policy.yaml"
    failed = reloads(gateway, "policy", "failed")
    policy.write_text("version: 1\nrules:\n  - id: x\n    effect: allow\n    method: [GET]\n")
    wait_for(gateway, "policy", "failed", failed)
    response, event = call(gateway, pki, token=pki.token())
    assert response.status_code == 200 and event["rule.id"] == "hr-read"
    ready = gateway.admin_get("/readyz")
    assert ready.status_code == 200 and ready.json()["policy_sha256"] == good
    assert "unknown keys ['method']" in gateway.stderr()
    # A valid change applies: an empty policy denies everything by default.
    ok = reloads(gateway, "policy", "ok")
    policy.write_text("version: 1\nrules: []\n")
    wait_for(gateway, "policy", "ok", ok)
    response, event = call(gateway, pki, token=pki.token())
    assert response.status_code == 403 and event["rule.id"] == "builtin:default-deny"


def test_upstream_down_is_502_and_the_gateway_keeps_serving(
    shared_gateway: RunningGateway, pki: Pki, upstream: Any
) -> None:
    response, _ = call(shared_gateway, pki, "/public/x", host="down.city.test")
    assert response.status_code == 502
    # mitmproxy writes the 502 itself (no request id header): find the line by its host.
    event = [e for e in shared_gateway.audit() if e["url.domain"] == "down.city.test"][-1]
    assert event["rule.id"] == "public" and event["http.response.status_code"] == 502
    assert "upstream failed" in event["event.reason"]
    assert call(shared_gateway, pki, token=pki.token())[0].status_code == 200


def test_health_readiness_and_metrics(shared_gateway: RunningGateway, pki: Pki) -> None:
    call(shared_gateway, pki, token=pki.token())
    assert shared_gateway.admin_get("/healthz").status_code == 200
    ready = shared_gateway.admin_get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    metrics = shared_gateway.admin_get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'tulou_gateway_decisions_total{outcome="allow",rule="hr-read"}' in text
    assert "tulou_gateway_request_duration_seconds_bucket" in text
    assert "tulou_gateway_decision_duration_seconds_count" in text
    assert shared_gateway.admin_get("/nope").status_code == 404


def test_audit_lines_are_ecs(shared_gateway: RunningGateway, pki: Pki) -> None:
    _, event = call(shared_gateway, pki, token=pki.token())
    for key in (
        "@timestamp",
        "event.kind",
        "event.category",
        "event.action",
        "event.outcome",
        "event.dataset",
        "user.name",
        "source.ip",
        "url.path",
        "url.domain",
        "http.request.method",
        "tls.client.hash.sha256",
        "rule.id",
        "event.reason",
        "http.response.status_code",
        "event.duration",
        "tulou.token.id",
    ):
        assert key in event, key
    assert event["@timestamp"].endswith("Z") and event["event.duration"] > 0


def test_rate_limit_answers_429(start_gateway: Any, pki: Pki, upstream: Any) -> None:
    gateway = start_gateway(
        rate_limit={"subject": None, "device": None, "ip": {"rate": 0.05, "burst": 3}}
    )
    statuses = [call(gateway, pki, "/public/x", device=None)[0] for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1
    event = gateway.audit_for(statuses[-1].headers["x-tulou-request-id"])
    assert event["rule.id"] == "builtin:rate-limited"


def test_sighup_reload_and_graceful_sigterm(start_gateway: Any, pki: Pki) -> None:
    gateway = start_gateway()
    ok = reloads(gateway, "policy", "ok")
    gateway.process.send_signal(signal.SIGHUP)
    wait_for(gateway, "policy", "ok", ok)
    assert stop(gateway) == 0
    assert "draining" in gateway.stderr()


def test_refuses_to_start_with_a_broken_policy(tmp_path: Path, pki: Pki) -> None:
    config = write_setup(tmp_path, pki, 9, policy={"version": 1, "rules": [{"id": "x"}]})
    result = subprocess.run(
        [sys.executable, "-m", "tulou.cli", "gateway", "run", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "effect must be" in result.stderr
    assert yaml.safe_load(config.read_text())["policy"] == "policy.yaml"


def test_issuer_key_rotation_and_broken_issuers_file(
    start_gateway: Any, pki: Pki, upstream: Any
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    gateway = start_gateway()
    new_key = ec.generate_private_key(ec.SECP256R1())
    pem = gateway.directory / "es-2.pub.pem"
    pem.write_bytes(
        new_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    rotated = pki.token("es-1", key=new_key, headers={"kid": "es-2"})
    response, event = call(gateway, pki, token=rotated)
    assert response.status_code == 401 and "unknown-kid" in event["event.reason"]
    issuers_file = gateway.directory / "issuers.yaml"
    issuers = yaml.safe_load(issuers_file.read_text())
    issuers["issuers"][0]["keys"].append({"kid": "es-2", "alg": "ES256", "public_key": str(pem)})
    ok = reloads(gateway, "issuers", "ok")
    issuers_file.write_text(yaml.safe_dump(issuers))
    wait_for(gateway, "issuers", "ok", ok)
    assert (
        call(gateway, pki, token=pki.token("es-1", key=new_key, headers={"kid": "es-2"}))[
            0
        ].status_code
        == 200
    )
    # A broken issuers file (a key that does not fit its algorithm) keeps the rotated key set.
    failed = reloads(gateway, "issuers", "failed")
    issuers["issuers"][0]["keys"][-1]["alg"] = "RS256"
    issuers_file.write_text(yaml.safe_dump(issuers))
    wait_for(gateway, "issuers", "failed", failed)
    assert (
        call(gateway, pki, token=pki.token("es-1", key=new_key, headers={"kid": "es-2"}))[
            0
        ].status_code
        == 200
    )
