"""Two gateways, system to system: bodies sealed (SM2 + SM4) from A, opened at B.

Client -> gateway A (route sealed to peer gw-b) -> gateway B (route opened) -> app. Tampered,
replayed, re-targeted, plaintext and unknown-sender envelopes sent straight to B never reach
the app.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crypto.sm2 import SM2PrivateKey
from gateway.sealing import CONTENT_TYPE, Sealer
from tests.integration.gateway.conftest import Pki, RunningGateway, call, launch, stop, write_setup

ALLOW_PEERS = {
    "version": 1,
    "rules": [{"id": "peer-systems", "effect": "allow", "anonymous": True, "routes": ["inter"]}],
}
ALLOW_STAFF = {
    "version": 1,
    "rules": [
        {
            "id": "staff-to-b",
            "effect": "allow",
            "routes": ["to-b"],
            "groups": ["hr-staff"],
            "device": {"bound": True},
        }
    ],
}


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, upstream: Any
) -> Iterator[tuple[RunningGateway, RunningGateway, Path]]:
    keys = tmp_path_factory.mktemp("envelope-keys")
    for name in ("gw-a", "gw-b", "intruder"):
        key = SM2PrivateKey.generate()
        (keys / f"{name}.key").write_bytes(key.to_pem())
        (keys / f"{name}.pub").write_bytes(key.public_key().to_pem())
    app = upstream.server_address[1]
    b = launch(
        write_setup(
            tmp_path_factory.mktemp("gw-b"),
            pki,
            app,
            policy=ALLOW_PEERS,
            routes=[
                {
                    "id": "inter",
                    "host": "sys.city.test",
                    "upstream": f"http://127.0.0.1:{app}",
                    "inter_system": "open",
                }
            ],
            envelope={
                "name": "gw-b",
                "private_key": str(keys / "gw-b.key"),
                "peers": {"gw-a": str(keys / "gw-a.pub")},
            },
        )
    )
    a = launch(
        write_setup(
            tmp_path_factory.mktemp("gw-a"),
            pki,
            app,
            policy=ALLOW_STAFF,
            routes=[
                {
                    "id": "to-b",
                    "host": "sys.city.test",
                    "upstream": f"https://127.0.0.1:{b.port}",
                    "inter_system": "seal",
                    "peer": "gw-b",
                }
            ],
            envelope={
                "name": "gw-a",
                "private_key": str(keys / "gw-a.key"),
                "peers": {"gw-b": str(keys / "gw-b.pub")},
            },
            upstream_ca=str(pki.server_ca),
        )
    )
    yield a, b, keys
    stop(a)
    stop(b)


def _sealer(keys: Path, name: str) -> Sealer:
    return Sealer.from_files(name, keys / f"{name}.key", {"gw-b": keys / "gw-b.pub"}, 300)


def _post_to_b(b: RunningGateway, pki: Pki, path: str, body: bytes, ctype: str) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(pki.server_ca))
    with httpx.Client(verify=context, timeout=10) as client:
        return client.post(
            f"{b.url}{path}",
            content=body,
            headers={"Host": "sys.city.test", "Content-Type": ctype},
        )


def test_sealed_round_trip(pair: Any, pki: Pki, upstream: Any) -> None:
    a, b, _ = pair
    response, event = call(
        a,
        pki,
        "/api/records",
        method="POST",
        host="sys.city.test",
        token=pki.token(),
        content=b'{"citizen": "\xe5\xbc\xa0\xe4\xb8\x89"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert event["rule.id"] == "staff-to-b"
    seen = response.json()  # opened by A: the app's plaintext answer
    assert seen["body"] == '{"citizen": "张三"}'
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-tulou-envelope-sender"] == "gw-a"
    b_event = [e for e in b.audit() if e["url.path"] == "/api/records"][-1]
    assert b_event["rule.id"] == "peer-systems" and b_event["event.outcome"] == "success"


def _refused_at_b(
    pair: Any,
    pki: Pki,
    upstream: Any,
    body: bytes,
    *,
    path: str = "/api/x",
    ctype: str = CONTENT_TYPE,
) -> dict[str, Any]:
    _, b, _ = pair
    before = len(upstream.received)
    response = _post_to_b(b, pki, path, body, ctype)
    assert response.status_code == 403, response.text
    assert len(upstream.received) == before
    event: dict[str, Any] = b.audit_for(response.headers["x-tulou-request-id"])
    assert event["rule.id"] == "builtin:envelope-invalid"
    return event


def test_tampered_envelope(pair: Any, pki: Pki, upstream: Any) -> None:
    _, _, keys = pair
    sealed = bytearray(
        _sealer(keys, "gw-a").seal({"m": "POST", "p": "/api/x", "ct": ""}, b"hi", "gw-b")
    )
    for index in (len(sealed) // 2, len(sealed) - 1, 40):
        tampered = bytearray(sealed)
        tampered[index] ^= 0x01
        _refused_at_b(pair, pki, upstream, bytes(tampered))


def test_replayed_envelope(pair: Any, pki: Pki, upstream: Any) -> None:
    _, b, keys = pair
    sealed = _sealer(keys, "gw-a").seal({"m": "POST", "p": "/api/x", "ct": ""}, b"once", "gw-b")
    assert _post_to_b(b, pki, "/api/x", sealed, CONTENT_TYPE).status_code == 200
    event = _refused_at_b(pair, pki, upstream, sealed)
    assert "already received" in event["event.reason"]


def test_retargeted_envelope(pair: Any, pki: Pki, upstream: Any) -> None:
    _, _, keys = pair
    sealed = _sealer(keys, "gw-a").seal({"m": "POST", "p": "/api/read", "ct": ""}, b"x", "gw-b")
    event = _refused_at_b(pair, pki, upstream, sealed, path="/api/delete")
    assert "another method or path" in event["event.reason"]


def test_plaintext_and_unknown_sender(pair: Any, pki: Pki, upstream: Any) -> None:
    _, _, keys = pair
    _refused_at_b(pair, pki, upstream, b'{"plain": true}', ctype="application/json")
    intruder = _sealer(keys, "intruder").seal({"m": "POST", "p": "/api/x", "ct": ""}, b"x", "gw-b")
    _refused_at_b(pair, pki, upstream, intruder)
