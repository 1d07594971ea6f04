"""Data protection and signatures through the real service over HTTP, and every bad input."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crypto.service.client import KmsClient
from crypto.sm2 import SM2PublicKey
from crypto.sm3 import hmac_sm3
from tests.fixtures.cryptoservice import RunningService
from tulou.errors import (
    InputError,
    NotFoundError,
    PolicyDeniedError,
    ReplayError,
    UnavailableError,
    UsageError,
    VerificationError,
)

Make = Callable[[str], KmsClient]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def new_key(make: Make, ring: str, key_type: str, **options: Any) -> str:
    name = f"k{secrets.token_hex(4)}"
    make("admin").create_key(f"hr/{ring}/{name}", key_type, **options)
    return f"hr/{ring}/{name}"


def audit_for(kms: RunningService, **match: Any) -> list[dict[str, Any]]:
    return [e for e in kms.audit() if all(e.get(k) == v for k, v in match.items())]


def test_encrypt_decrypt_with_context_round_trip(kms: RunningService, client_for: Make) -> None:
    key = new_key(client_for, "records", "sm4")
    hr = client_for("hr-app")
    out = hr.encrypt(key, b"citizen record 42", {"table": "citizens", "row": "42"})
    assert out["key_id"] == f"{key}@v1"
    assert (
        hr.decrypt(key, out["ciphertext"], {"row": "42", "table": "citizens"})
        == b"citizen record 42"
    )
    # A wrong or missing encryption context does not open it (bound as AAD).
    for context in ({"table": "citizens", "row": "43"}, {}, {"table": "citizens"}):
        with pytest.raises(VerificationError, match="decrypt-failed"):
            hr.decrypt(key, out["ciphertext"], context)
    events = audit_for(kms, **{"tulou.key.path": key, "event.action": "decrypt"})
    assert [e["event.outcome"] for e in events] == ["success", "failure", "failure", "failure"]
    assert {e.get("error.code") for e in events[1:]} == {"decrypt-failed"}
    # Never the plaintext or key material in the audit log.
    raw = (kms.data_dir / "audit.jsonl").read_text()
    assert "citizen record" not in raw and b64(b"citizen record 42") not in raw


def test_tampered_ciphertext_every_region(client_for: Make) -> None:
    key = new_key(client_for, "records", "sm4")
    hr = client_for("hr-app")
    blob = base64.b64decode(hr.encrypt(key, b"x" * 100)["ciphertext"])
    header = 6 + blob[5] + 4
    expected = {
        0: {"ciphertext-invalid"},
        5: {"ciphertext-invalid"},
        8: {"ciphertext-invalid", "wrong-tenant"},
        header - 1: {"ciphertext-invalid"},
        header - 2: {"unknown-key"},
        header + 3: {"decrypt-failed"},
        len(blob) // 2: {"decrypt-failed"},
        len(blob) - 1: {"decrypt-failed"},
    }
    for position, codes in expected.items():
        bad = bytearray(blob)
        bad[position] ^= 0x01
        with pytest.raises((VerificationError, NotFoundError, PolicyDeniedError, InputError)):
            hr.decrypt(key, b64(bytes(bad)))
        assert hr.last_error_code in codes, position
    with pytest.raises(InputError, match="ciphertext-invalid"):
        hr.decrypt(key, b64(blob[:20]))
    with pytest.raises(UsageError, match="bad-request"):
        hr.decrypt(key, "not base64!!")


def test_rewrap_moves_to_the_newest_version(client_for: Make) -> None:
    key = new_key(client_for, "records", "sm4")
    hr, admin = client_for("hr-app"), client_for("admin")
    old = hr.encrypt(key, b"payload", {"a": "b"})
    admin.request("POST", admin.key_url(key) + "/rotate")
    out = hr.request(
        "POST",
        hr.key_url(key) + "/rewrap",
        {"ciphertext": old["ciphertext"], "context": {"a": "b"}},
    )
    assert (out["version"], out["from_version"]) == (2, 1)
    assert hr.decrypt(key, out["ciphertext"], {"a": "b"}) == b"payload"
    assert hr.decrypt(key, old["ciphertext"], {"a": "b"}) == b"payload"  # v1 still decrypts


def test_generate_data_key_envelope(client_for: Make) -> None:
    key = new_key(client_for, "records", "sm4")
    hr = client_for("hr-app")
    out = hr.request(
        "POST", hr.key_url(key) + "/generate-data-key", {"context": {"dataset": "census"}}
    )
    plaintext_key = base64.b64decode(out["plaintext"])
    assert len(plaintext_key) == 16
    assert hr.decrypt(key, out["ciphertext"], {"dataset": "census"}) == plaintext_key
    # A tampered wrapped data key is refused.
    wrapped = bytearray(base64.b64decode(out["ciphertext"]))
    wrapped[-3] ^= 0x80
    with pytest.raises(VerificationError, match="decrypt-failed"):
        hr.decrypt(key, b64(bytes(wrapped)), {"dataset": "census"})
    only = hr.request("POST", hr.key_url(key) + "/generate-data-key", {"include_plaintext": False})
    assert "plaintext" not in only and len(hr.decrypt(key, only["ciphertext"])) == 16


def test_hmac_generate_and_verify(client_for: Make) -> None:
    key = new_key(client_for, "records", "hmac-sm3")
    hr = client_for("hr-app")
    tag = hr.request("POST", hr.key_url(key) + "/mac", {"data": b64(b"row 1|alice|2026")})["mac"]
    ok = hr.request(
        "POST", hr.key_url(key) + "/mac-verify", {"data": b64(b"row 1|alice|2026"), "mac": tag}
    )
    assert ok["valid"] is True
    with pytest.raises(VerificationError, match="mac-invalid"):
        hr.request(
            "POST",
            hr.key_url(key) + "/mac-verify",
            {"data": b64(b"row 1|mallory|2026"), "mac": tag},
        )
    # An SM4 key cannot mac.
    sm4_key = new_key(client_for, "records", "sm4")
    with pytest.raises(UsageError, match="wrong-key-type"):
        hr.request("POST", hr.key_url(sm4_key) + "/mac", {"data": b64(b"x")})


def test_hmac_matches_exported_key(client_for: Make) -> None:
    """Independent check of the tag: an exportable key, exported to us, HMACs the same."""
    from crypto.sm2 import SM2PrivateKey

    key = new_key(client_for, "records", "hmac-sm3", exportable=True)
    hr, admin = client_for("hr-app"), client_for("admin")
    tag = base64.b64decode(
        hr.request("POST", hr.key_url(key) + "/mac", {"data": b64(b"abc")})["mac"]
    )
    recipient = SM2PrivateKey.generate()
    out = admin.request(
        "POST",
        admin.key_url(key) + "/export",
        {"public_key": recipient.public_key().to_pem().decode()},
    )
    secret = recipient.decrypt(base64.b64decode(out["wrapped"]))
    assert tag[9:] == hmac_sm3(secret, b"abc")
    # Keys are not exportable by default.
    locked = new_key(client_for, "records", "sm4")
    with pytest.raises(PolicyDeniedError, match="not-exportable"):
        admin.request(
            "POST",
            admin.key_url(locked) + "/export",
            {"public_key": recipient.public_key().to_pem().decode()},
        )


def test_sign_verify_data_and_digest(client_for: Make) -> None:
    key = new_key(client_for, "records", "sm2")
    hr = client_for("hr-app")
    pub = SM2PublicKey.from_pem(
        hr.request("GET", hr.key_url(key) + "/public-key")["public_key"].encode()
    )
    signed = hr.sign(key, b"approved: permit 7", uid="hr-app@city")
    # The library verifies the service's signature with Z over the same ID.
    pub.verify(base64.b64decode(signed["signature"]), b"approved: permit 7", uid=b"hr-app@city")
    assert hr.verify(key, b"approved: permit 7", signed["signature"], uid="hr-app@city")["valid"]
    with pytest.raises(VerificationError, match="signature-invalid"):
        hr.verify(key, b"approved: permit 8", signed["signature"], uid="hr-app@city")
    with pytest.raises(VerificationError, match="signature-invalid"):
        hr.verify(key, b"approved: permit 7", signed["signature"])  # other ID, other Z
    e = pub.digest(b"digest mode")
    raw = hr.sign_digest(key, e, form="raw")["signature"]
    pub.verify_raw(base64.b64decode(raw), b"digest mode")
    with pytest.raises(UsageError, match="bad-request"):
        hr.request("POST", hr.key_url(key) + "/sign", {"digest": b64(b"short")})


def test_batch_collects_per_item_results(kms: RunningService, client_for: Make) -> None:
    key = new_key(client_for, "records", "sm4")
    sig_key = new_key(client_for, "records", "sm2")
    hr = client_for("hr-app")
    results = hr.batch(
        [{"operation": "encrypt", "key": key, "plaintext": b64(f"r{i}".encode())} for i in range(5)]
        + [
            {"operation": "sign", "key": sig_key, "data": b64(b"m")},
            {"operation": "encrypt", "key": "hr/records/missing", "plaintext": b64(b"x")},
            {"operation": "encrypt", "key": "tax/records/x", "plaintext": b64(b"x")},
            {"operation": "encrypt", "key": key, "plaintext": b64(b"x"), "bogus": 1},
        ]
    )
    assert [r["ok"] for r in results] == [True] * 6 + [False] * 3
    assert [r["error"]["code"] for r in results[6:]] == ["unknown-key", "denied", "bad-request"]
    opened = hr.batch(
        [{"operation": "decrypt", "key": key, "ciphertext": r["ciphertext"]} for r in results[:5]]
    )
    assert [base64.b64decode(r["plaintext"]) for r in opened] == [
        f"r{i}".encode() for i in range(5)
    ]
    events = audit_for(kms, **{"tulou.key.path": key, "event.action": "encrypt"})
    assert len([e for e in events if e.get("tulou.batch.size") == 9]) == 6  # 5 ok + 1 bad item


def test_unknown_key_wrong_tenant_and_denied_are_audited(
    kms: RunningService, client_for: Make
) -> None:
    hr, outsider, tax = client_for("hr-app"), client_for("outsider"), client_for("tax-app")
    with pytest.raises(NotFoundError, match="unknown-key"):
        hr.encrypt("hr/records/nope", b"x")
    key = new_key(client_for, "records", "sm4")
    with pytest.raises(PolicyDeniedError, match="denied"):
        outsider.encrypt(key, b"x")
    with pytest.raises(PolicyDeniedError, match="denied"):
        tax.encrypt(key, b"x")  # tax-app may not use hr/records
    # A ciphertext of one key presented to another key (another tenant's request) is refused.
    ct = hr.encrypt(key, b"secret")["ciphertext"]
    tax_key = "tax/records/own"
    client_for("admin").create_key(tax_key, "sm4")
    with pytest.raises(PolicyDeniedError, match="wrong-tenant"):
        tax.decrypt(tax_key, ct)
    denied = audit_for(kms, **{"user.name": "service:outsider", "error.code": "denied"})
    assert (
        denied and denied[-1]["tulou.key.path"] == key and denied[-1]["event.outcome"] == "failure"
    )
    assert audit_for(kms, **{"user.name": "service:tax-app", "error.code": "wrong-tenant"})


def test_unauthenticated_replayed_and_oversized_requests(
    kms: RunningService, client_for: Make
) -> None:
    key = new_key(client_for, "records", "sm4")
    url = f"{kms.url}/v1/keys/{key}/encrypt"
    body = {"plaintext": b64(b"x")}
    headers = {
        "Authorization": f"Bearer {kms.tokens['hr-app']}",
        "X-Tulou-Request-Id": secrets.token_hex(12),
        "X-Tulou-Request-Time": str(int(time.time() * 1000)),
    }
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    again = httpx.post(url, json=body, headers=headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "replayed-request")
    stale = {
        **headers,
        "X-Tulou-Request-Id": secrets.token_hex(12),
        "X-Tulou-Request-Time": str(int(time.time() * 1000) - 3_600_000),
    }
    assert httpx.post(url, json=body, headers=stale).json()["error"]["code"] == "replayed-request"
    no_id = {k: v for k, v in headers.items() if k != "X-Tulou-Request-Id"}
    assert httpx.post(url, json=body, headers=no_id).json()["error"]["code"] == "bad-request"
    bad_token = {
        **headers,
        "Authorization": "Bearer wrong",
        "X-Tulou-Request-Id": secrets.token_hex(12),
    }
    response = httpx.post(url, json=body, headers=bad_token)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated")
    big = {**headers, "X-Tulou-Request-Id": secrets.token_hex(12)}
    response = httpx.post(
        url,
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={**big, "content-type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (413, "body-too-large")
    codes = {e.get("error.code") for e in kms.audit()}
    assert {"replayed-request", "unauthenticated", "body-too-large"} <= codes
    assert kms.tokens["hr-app"] not in (kms.data_dir / "audit.jsonl").read_text()
    replay_client = client_for("hr-app")
    with pytest.raises(ReplayError, match="replayed-request"):
        replay_client.request(
            "POST",
            f"/v1/keys/{key}/encrypt",
            body,
            headers={"X-Tulou-Request-Id": headers["X-Tulou-Request-Id"]},
        )


def test_openapi_lists_the_operations(kms: RunningService) -> None:
    spec = httpx.get(kms.url + "/openapi.json").json()
    paths = set(spec["paths"])
    for suffix in (
        "encrypt",
        "decrypt",
        "rewrap",
        "generate-data-key",
        "mac",
        "mac-verify",
        "sign",
        "verify",
    ):
        assert f"/v1/keys/{{tenant}}/{{ring}}/{{name}}/{suffix}" in paths
    assert "/v1/batch" in paths


def _frames(records: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(4, "big") + r for r in records)


def _unframe(body: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(body):
        size = int.from_bytes(body[pos : pos + 4], "big")
        out.append(body[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def test_bulk_records_round_trip_and_refusals(kms: RunningService, client_for: Make) -> None:
    key = new_key(client_for, "records", "sm4")
    token = kms.tokens["hr-app"]

    def post(op: str, body: bytes, context: str = '{"table": "t"}') -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Tulou-Request-Id": secrets.token_hex(12),
            "X-Tulou-Request-Time": str(int(time.time() * 1000)),
            "X-Tulou-Encryption-Context": context,
            "content-type": "application/octet-stream",
        }
        return httpx.post(f"{kms.url}/v1/keys/{key}/{op}-bulk", content=body, headers=headers)

    records = [secrets.token_bytes(n) for n in (0, 1, 4096, 100)]
    sealed = post("encrypt", _frames(records))
    assert sealed.status_code == 200, sealed.text
    ciphertexts = _unframe(sealed.content)
    assert len(ciphertexts) == 4 and all(c[:4] == b"TKMS" for c in ciphertexts)
    opened = post("decrypt", sealed.content)
    assert _unframe(opened.content) == records
    # Each ciphertext also opens one by one through the JSON API, with the same context.
    assert client_for("hr-app").decrypt(key, b64(ciphertexts[2]), {"table": "t"}) == records[2]
    assert (
        post("decrypt", sealed.content, '{"table": "u"}').json()["error"]["code"]
        == "decrypt-failed"
    )
    tampered = bytearray(sealed.content)
    tampered[-1] ^= 1
    assert post("decrypt", bytes(tampered)).json()["error"]["code"] == "decrypt-failed"
    assert (
        post("encrypt", b"\x00\x00\x01\x00abc").json()["error"]["code"] == "bad-request"
    )  # torn frame
    assert post("encrypt", _frames([b"x"]), "not json").json()["error"]["code"] == "bad-request"
    events = audit_for(kms, **{"tulou.key.path": key, "event.action": "encrypt"})
    assert events[0]["tulou.batch.size"] == 4


def test_malformed_body_is_refused_and_audited_with_its_caller(
    kms: RunningService, client_for: Make
) -> None:
    key = new_key(client_for, "records", "sm4")
    hr = client_for("hr-app")
    with pytest.raises(UsageError, match="bad-request"):
        hr.request("POST", hr.key_url(key) + "/encrypt", {"plaintext": 5, "contxt": {}})
    refused = [e for e in kms.audit() if e.get("url.path") == f"/v1/keys/{key}/encrypt"]
    assert refused and refused[-1]["error.code"] == "bad-request"
    assert refused[-1]["user.name"] == "service:hr-app" and refused[-1]["event.action"] == "encrypt"


def test_quota_per_caller_counts_batch_items(kms: RunningService, client_for: Make) -> None:
    key = new_key(client_for, "records", "sm4")
    limited = client_for("limited")  # 0.5 operations/s, burst 3
    results = limited.batch([{"operation": "encrypt", "key": key, "plaintext": b64(b"x")}] * 5)
    assert [r["ok"] for r in results] == [True, True, True, False, False]
    assert results[3]["error"]["code"] == "quota-exceeded"
    with pytest.raises(UnavailableError, match="quota-exceeded"):
        limited.encrypt(key, b"one more")
    assert client_for("hr-app").encrypt(key, b"others are not affected")["version"] == 1
    assert audit_for(kms, **{"user.name": "service:limited", "error.code": "quota-exceeded"})
