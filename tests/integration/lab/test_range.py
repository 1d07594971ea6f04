"""The city range for real: sample apps behind the real gateway process, lab PKI, audit, logs.

Checks what scenarios and the runner rely on: an allowed request reaches the app with the
client's address; a denied one never does; the audit line and the access-log line exist as soon
as the client has its response (no waiting); the chosen loopback source address is what the
gateway audits; private keys are 0600; revocations reload live; apps refuse direct access;
stop() leaves no process and no listener behind.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.cityconfig import PEOPLE
from lab.pki import DEVICES
from lab.range import CityRange

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CityRange]:
    with CityRange(tmp_path_factory.mktemp("range")) as running:
        yield running


def _audit(city: CityRange, request_id: str) -> dict[str, Any]:
    for line in city.audit_path.read_text().splitlines():
        event: dict[str, Any] = json.loads(line)
        if event["event.id"] == request_id:
            return event
    raise AssertionError(f"no audit line for {request_id} (read right after the response)")


def _log_lines(city: CityRange, app: str) -> list[str]:
    return (city.workdir / "logs" / f"{app}-access.log").read_text().splitlines()


def test_allowed_request_reaches_the_app_and_is_recorded_at_once(city: CityRange) -> None:
    alice = PEOPLE["alice"]
    before = len(_log_lines(city, "exchange"))
    with city.client("alice-laptop", alice.address) as client:
        response = client.get(
            "https://exchange.city.test/api/datasets",
            headers={"Authorization": f"Bearer {city.token('alice')}"},
        )
    assert response.status_code == 200, response.text
    assert "population-2025" in response.json()["datasets"]
    event = _audit(city, response.headers["x-tulou-request-id"])
    assert event["event.outcome"] == "success" and event["rule.id"] == "exchange-staff"
    assert event["source.ip"] == alice.address
    assert event["user.name"] == "alice" and event["host.id"] == "alice-laptop"
    assert event["url.domain"] == "exchange.city.test"
    lines = _log_lines(city, "exchange")
    assert len(lines) == before + 1
    assert lines[-1].startswith(f"{alice.address} - alice [")
    assert '"GET /api/datasets HTTP/1.1" 200 ' in lines[-1]
    assert (city.workdir / "logs" / "exchange-access.log", "web") in city.access_logs()


def test_denied_request_never_reaches_the_app(city: CityRange) -> None:
    before = {app: len(_log_lines(city, app)) for app in ("portal", "exchange", "admin")}
    with city.client(None, "127.0.0.99") as client:
        response = client.get(
            "https://admin.city.test/admin/users",
            headers={"Authorization": f"Bearer {city.token('carol')}"},
        )
    assert response.status_code == 403
    assert "admin" not in response.text  # no rule ids or reasons disclosed to the client
    event = _audit(city, response.headers["x-tulou-request-id"])
    assert event["event.outcome"] == "failure" and event["rule.id"] == "builtin:default-deny"
    assert event["source.ip"] == "127.0.0.99"
    assert "tls.client.hash.sha256" not in event
    assert {app: len(_log_lines(city, app)) for app in before} == before


def test_devices_unmanaged_and_revoked(city: CityRange) -> None:
    token = {"Authorization": f"Bearer {city.token('bob')}"}
    with city.client("revoked-laptop", "127.0.0.98") as revoked:
        refused = revoked.get("https://exchange.city.test/api/datasets", headers=token)
    assert refused.status_code == 403
    reason = _audit(city, refused.headers["x-tulou-request-id"])["event.reason"]
    assert reason.startswith("device certificate refused (revoked)")
    with city.client("unmanaged-laptop", "127.0.0.98") as unmanaged:
        denied = unmanaged.get("https://exchange.city.test/api/datasets", headers=token)
    assert denied.status_code == 403
    event = _audit(city, denied.headers["x-tulou-request-id"])
    assert event["rule.id"] == "builtin:default-deny"
    assert "tls.client.hash.sha256" in event and "tulou.device.posture.enrolled" not in event


def test_private_keys_are_0600(city: CityRange) -> None:
    keys = [*city.workdir.glob("pki/*.key"), *city.workdir.glob("keys/*.key")]
    assert len(keys) >= len(DEVICES) + 6
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_apps_refuse_direct_access(city: CityRange) -> None:
    port = city.apps["portal"].port
    direct = httpx.get(f"http://127.0.0.1:{port}/api/services", timeout=5, trust_env=False)
    assert direct.status_code == 401  # no gateway assertion


def test_revocation_reloads_live(city: CityRange) -> None:
    bob = PEOPLE["bob"]
    auth = {"Authorization": f"Bearer {city.token('bob')}"}
    url = "https://exchange.city.test/api/datasets"
    with city.client(bob.device, bob.address) as client:
        assert client.get(url, headers=auth).status_code == 200
    city.revoke(subjects=["bob"])
    with city.client(bob.device, bob.address) as client:
        refused = client.get(url, headers=auth)
    assert refused.status_code == 403
    assert _audit(city, refused.headers["x-tulou-request-id"])["event.reason"] == "subject revoked"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_stop_leaves_nothing_behind(tmp_path: Path) -> None:
    city = CityRange(tmp_path / "range").start()
    pid = city.gateway_pid
    assert pid is not None and city.running
    ports = [city.gateway_port, city.admin_port, *(s.port for s in city.apps.values())]
    assert all(_listening(p) for p in ports)
    city.stop()
    city.stop()  # idempotent
    with pytest.raises(ProcessLookupError):  # exited and reaped, not a zombie
        os.kill(pid, 0)
    assert city.gateway_pid is None
    assert not any(_listening(p) for p in ports)
    assert not city.running
