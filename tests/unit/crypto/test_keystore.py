"""The KeyStore conformance suite, run against every registered implementation."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.filekeystore import FileKeyStore
from crypto.keystore import KeyStore, MemoryKeyStore, parse_ref
from crypto.keystores import default_keystores, open_keystore
from crypto.kmskeystore import KmsKeyStore
from crypto.service.client import KmsClient
from crypto.sm2 import SM2PrivateKey
from tests.fixtures.cryptoservice import RunningService, start_service
from tulou.errors import (
    ConfigError,
    NotFoundError,
    PolicyDeniedError,
    UnavailableError,
    UsageError,
    VerificationError,
)
from tulou.events import Event


class Harness:
    def __init__(self, store: KeyStore, events: list[Event]) -> None:
        self.store, self.events = store, events


@pytest.fixture(scope="module")
def kms_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A real crypto service for the ``kms`` store (one tenant; a fresh key ring per test)."""
    accounts = {"admin": {"roles": ["kms-admin"]}}
    policy = [{"id": "all", "callers": ["role:kms-admin"], "operations": ["*"]}]
    with start_service(tmp_path_factory.mktemp("kms"), accounts, policy) as running:
        with KmsClient(running.url, running.tokens["admin"]) as admin:
            admin.request("POST", "/v1/tenants", {"tenant": "conformance"})
        yield running


@pytest.fixture(params=default_keystores().keys())
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    events: list[Event] = []
    if request.param == "kms":
        service: RunningService = request.getfixturevalue("kms_service")
        client = KmsClient(service.url, service.tokens["admin"])
        ring = f"r{secrets.token_hex(4)}"
        client.request("POST", "/v1/tenants/conformance/rings", {"ring": ring})
        yield Harness(KmsKeyStore(client, "conformance", ring, audit=events.append), events)
        client.close()
        return
    if request.param == "file":
        store: Any = FileKeyStore.init(
            tmp_path / "ks", b"test passphrase", iterations=1000, audit=events.append
        )
    else:
        store = MemoryKeyStore(audit=events.append)
    yield Harness(store, events)


def test_registry_has_file_and_memory_and_refuses_duplicates() -> None:
    registry = default_keystores()
    assert {"file", "memory", "kms"} <= set(registry)
    with pytest.raises(ConfigError):
        registry.register("file", lambda location, passphrase, audit: MemoryKeyStore())


def test_key_stores_open_by_url(tmp_path: Path) -> None:
    FileKeyStore.init(tmp_path / "ks", b"test passphrase", iterations=1000)
    for url in (f"file:{tmp_path / 'ks'}", f"file://{tmp_path / 'ks'}", str(tmp_path / "ks")):
        assert isinstance(open_keystore(url, b"test passphrase"), FileKeyStore)
    assert isinstance(open_keystore("memory:"), MemoryKeyStore)
    with pytest.raises(ConfigError, match="MASTER_PASSPHRASE"):
        open_keystore(f"file:{tmp_path / 'ks'}")
    with pytest.raises(VerificationError):
        open_keystore(f"file:{tmp_path / 'ks'}", b"another passphrase")
    with pytest.raises(ConfigError, match="no credentials"):
        open_keystore("kms:https://admin:secret@kms.city.example/t/r")


def test_create_sign_verify_and_audit(harness: Harness) -> None:
    store = harness.store
    info = store.create("gateway")
    assert (info.key_id, info.active) == ("gateway@v1", True)
    signer = store.signer("gateway", purpose="jwt")
    signature = signer.sign(b"claims")
    store.public_key("gateway").verify(signature, b"claims")
    store.public_key("gateway@v1").verify_raw(signer.sign_raw(b"x"), b"x")
    actions = [e["event.action"] for e in harness.events]
    assert actions == ["key-create", "key-sign", "key-sign"]
    last = harness.events[-1]
    assert last["tulou.key.id"] == "gateway@v1"
    assert last["tulou.key.purpose"] == "jwt"
    assert last["event.outcome"] == "success"
    assert {"@timestamp", "event.id", "event.dataset", "event.original"} <= set(last)


def test_decrypt_is_audited_including_failures(harness: Harness) -> None:
    harness.store.create("backup")
    ct = harness.store.public_key("backup").encrypt(b"content key")
    decrypter = harness.store.decrypter("backup", purpose="restore")
    assert decrypter.decrypt(ct) == b"content key"
    with pytest.raises(VerificationError):
        decrypter.decrypt(ct[:-1] + bytes([ct[-1] ^ 1]))
    outcomes = [(e["event.action"], e["event.outcome"]) for e in harness.events[1:]]
    assert outcomes == [("key-decrypt", "success"), ("key-decrypt", "failure")]


def test_rotation_keeps_old_versions_for_verify_and_decrypt_only(harness: Harness) -> None:
    store = harness.store
    store.create("reports")
    old_sig = store.signer("reports").sign(b"q1 report")
    old_ct = store.public_key("reports").encrypt(b"old secret")
    new = store.rotate("reports")
    assert new.key_id == "reports@v2"
    assert store.info("reports").version == 2
    assert [(i.key_id, i.active) for i in store.list()] == [
        ("reports@v1", False),
        ("reports@v2", True),
    ]
    store.public_key("reports@v1").verify(old_sig, b"q1 report")
    with pytest.raises(VerificationError):
        store.public_key("reports").verify(old_sig, b"q1 report")
    assert store.decrypter("reports@v1").decrypt(old_ct) == b"old secret"
    with pytest.raises(PolicyDeniedError):
        store.signer("reports@v1")
    assert harness.events[-1]["event.outcome"] == "failure"
    assert store.signer("reports").info.key_id == "reports@v2"


def test_names_and_errors(harness: Harness) -> None:
    store = harness.store
    store.create("a-key")
    with pytest.raises(UsageError):
        store.create("a-key")
    with pytest.raises(UsageError):
        store.create("Bad Name")
    with pytest.raises(NotFoundError):
        store.signer("missing")
    with pytest.raises(NotFoundError):
        store.public_key("a-key@v9")
    with pytest.raises(NotFoundError):
        store.rotate("missing")
    assert parse_ref("a-key@v12") == ("a-key", 12)


def test_import_keeps_the_given_key(harness: Harness) -> None:
    key = SM2PrivateKey.generate()
    harness.store.import_key("imported", key)
    assert harness.store.public_key("imported") == key.public_key()


def test_audit_sink_failure_denies_the_operation(harness: Harness, tmp_path: Path) -> None:
    def broken(_event: Event) -> None:
        raise OSError("disk full")

    store = (
        FileKeyStore.init(tmp_path / "other", b"pw", iterations=1000, audit=broken)
        if isinstance(harness.store, FileKeyStore)
        else MemoryKeyStore(audit=broken)
    )
    with pytest.raises(UnavailableError):
        store.create("k")


def test_no_secrets_in_reprs(harness: Harness) -> None:
    harness.store.create("k")
    for obj in (harness.store, harness.store.signer("k"), harness.store.decrypter("k")):
        text = repr(obj)
        assert "passphrase" not in text and "PRIVATE" not in text
