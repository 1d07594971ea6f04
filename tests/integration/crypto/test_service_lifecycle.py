"""Key lifecycle through the real service: rotation, minimum version, enable/disable,
scheduled rotation, and destruction with dual control after a waiting period."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable

import pytest

from crypto.service.client import KmsClient
from tests.fixtures.cryptoservice import RunningService
from tulou.errors import NotFoundError, PolicyDeniedError, UsageError

Make = Callable[[str], KmsClient]


def _key(make: Make, key_type: str = "sm4", **options: object) -> str:
    key = f"hr/records/l{secrets.token_hex(4)}"
    make("admin").create_key(key, key_type, **options)
    return key


def test_rotation_min_version_and_disable(client_for: Make) -> None:
    key = _key(client_for)
    hr, admin = client_for("hr-app"), client_for("admin")
    v1 = hr.encrypt(key, b"one")["ciphertext"]
    admin.request("POST", admin.key_url(key) + "/rotate")
    v2 = hr.encrypt(key, b"two")
    assert v2["version"] == 2
    assert hr.decrypt(key, v1) == b"one"
    admin.request("PATCH", admin.key_url(key), {"min_decrypt_version": 2})
    with pytest.raises(PolicyDeniedError, match="version-retired"):
        hr.decrypt(key, v1)
    with pytest.raises(UsageError, match="bad-request"):
        admin.request("PATCH", admin.key_url(key), {"min_decrypt_version": 1})  # only goes up
    admin.request("PATCH", admin.key_url(key), {"enabled": False})
    with pytest.raises(PolicyDeniedError, match="key-disabled"):
        hr.decrypt(key, v2["ciphertext"])
    admin.request("PATCH", admin.key_url(key), {"enabled": True})
    assert hr.decrypt(key, v2["ciphertext"]) == b"two"
    admin.request("POST", admin.key_url(key) + "/rotate")
    admin.request("POST", admin.key_url(key) + "/versions/2/disable")
    with pytest.raises(PolicyDeniedError, match="key-disabled"):
        hr.decrypt(key, v2["ciphertext"])
    admin.request("POST", admin.key_url(key) + "/versions/2/enable")
    assert hr.decrypt(key, v2["ciphertext"]) == b"two"
    with pytest.raises(UsageError, match="bad-request"):
        admin.request("POST", admin.key_url(key) + "/versions/3/disable")  # the primary
    with pytest.raises(NotFoundError, match="unknown-key"):
        admin.request("POST", admin.key_url(key) + "/versions/9/disable")


def test_scheduled_rotation(client_for: Make) -> None:
    key = _key(client_for, rotation_period=1)
    admin = client_for("admin")
    deadline = time.monotonic() + 15
    while admin.request("GET", admin.key_url(key))["primary"] < 2:
        assert time.monotonic() < deadline, "the scheduler never rotated the key"
        time.sleep(0.2)
    history = admin.request("GET", admin.key_url(key))["history"]
    assert any(h["action"] == "rotate" and h["by"] == "scheduler" for h in history)


def test_destruction_needs_two_officers_and_the_waiting_period(
    kms: RunningService, client_for: Make
) -> None:
    key = _key(client_for, "sm2")
    hr, admin = client_for("hr-app"), client_for("admin")
    a, b = client_for("officer-a"), client_for("officer-b")
    old_sig = hr.sign(key, b"signed with v1")["signature"]
    with pytest.raises(UsageError, match="bad-request"):
        a.request("POST", a.key_url(key) + "/versions/1/destroy")  # the primary: rotate first
    admin.request("POST", admin.key_url(key) + "/rotate")
    with pytest.raises(PolicyDeniedError, match="denied"):
        hr.request("POST", hr.key_url(key) + "/versions/1/destroy")  # not an officer
    a.request("POST", a.key_url(key) + "/versions/1/destroy")
    with pytest.raises(PolicyDeniedError, match="version-destroyed"):
        hr.verify(key, b"signed with v1", old_sig, version=1)  # unusable once requested
    with pytest.raises(PolicyDeniedError, match="dual-control"):
        a.request("POST", a.key_url(key) + "/versions/1/destroy/approve")  # same officer
    b.request("POST", b.key_url(key) + "/versions/1/destroy/approve")
    record = admin.request("GET", admin.key_url(key))
    pending = record["destruction"]["1"]
    assert (pending["requested_by"], pending["approved_by"]) == (
        "service:officer-a",
        "service:officer-b",
    )
    assert record["versions"][0]["state"] == "destroy-pending"
    deadline = time.monotonic() + 15
    while admin.request("GET", admin.key_url(key))["versions"][0]["state"] != "destroyed":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    record = admin.request("GET", admin.key_url(key))
    assert "destroyed_at" in record["destruction"]["1"]
    assert [h["action"] for h in record["history"]][-3:] == [
        "destroy-request",
        "destroy-approve",
        "destroy",
    ]
    with pytest.raises(PolicyDeniedError, match="version-destroyed"):
        hr.verify(key, b"signed with v1", old_sig, version=1)
    # On disk: the destroyed version has no wrapped material left; both officers recorded.
    tenant, ring, name = key.split("/")
    stored = json.loads(
        (
            kms.data_dir / "store/tenants" / tenant / "rings" / ring / "keys" / f"{name}.json"
        ).read_text()
    )
    assert stored["versions"][0]["wrapped"] is None and stored["versions"][1]["wrapped"]
    assert stored["destruction"]["1"]["approved_by"] == "service:officer-b"
    actions = [
        e["event.action"]
        for e in kms.audit()
        if e.get("tulou.key.path") == key or e.get("tulou.key.id", "").startswith(key)
    ]
    assert {"key-destroy-request", "key-destroy-approve", "key-destroy"} <= set(actions)


def test_cancelled_destruction_restores_the_version(client_for: Make) -> None:
    key = _key(client_for)
    hr, admin, a = client_for("hr-app"), client_for("admin"), client_for("officer-a")
    ct = hr.encrypt(key, b"keep me")["ciphertext"]
    admin.request("POST", admin.key_url(key) + "/rotate")
    a.request("POST", a.key_url(key) + "/versions/1/destroy")
    with pytest.raises(PolicyDeniedError, match="version-destroyed"):
        hr.decrypt(key, ct)
    a.request("POST", a.key_url(key) + "/versions/1/destroy/cancel")
    assert hr.decrypt(key, ct) == b"keep me"
    assert base64.b64decode(hr.encrypt(key, b"x")["ciphertext"])[:4] == b"TKMS"
