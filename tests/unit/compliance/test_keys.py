"""The report-signing key is written whole or not at all (compliance/keys.py).

Before: a run without TULOU_MASTER_PASSPHRASE left a zero-byte signing-key.pem and every later
run failed with "no valid PEM block"."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from compliance.keys import default_key_path, load_signing_key, public_key_path
from crypto.sm2 import SM2PublicKey
from tulou.errors import ConfigError
from tulou.settings import load_settings


def _settings(tmp_path: Path, passphrase: str | None) -> object:
    extra = {"master_passphrase": passphrase} if passphrase else {}
    return load_settings(data_dir=tmp_path, **extra)


def test_no_passphrase_leaves_nothing_behind_and_a_later_run_works(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TULOU_MASTER_PASSPHRASE"):
        load_signing_key(_settings(tmp_path, None))  # type: ignore[arg-type]
    folder = tmp_path / "reports"
    assert not folder.exists() or list(folder.iterdir()) == []
    settings = _settings(tmp_path, "a long master passphrase")
    key = load_signing_key(settings)  # type: ignore[arg-type]
    path = default_key_path(settings)  # type: ignore[arg-type]
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in path.read_bytes()
    public = SM2PublicKey.from_pem(public_key_path(path).read_bytes())
    assert public == key.public_key()
    assert load_signing_key(settings).public_key() == public  # type: ignore[arg-type]
    assert sorted(p.name for p in folder.iterdir()) == ["signing-key.pem", "signing-key.pub.pem"]


def test_an_empty_key_left_by_an_older_version_is_replaced(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "a long master passphrase")
    path = default_key_path(settings)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    key = load_signing_key(settings)  # type: ignore[arg-type]
    assert path.stat().st_size > 0
    assert load_signing_key(settings).public_key() == key.public_key()  # type: ignore[arg-type]


def test_concurrent_first_runs_agree_on_one_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "a long master passphrase")
    found: list[SM2PublicKey] = []

    def create() -> None:
        found.append(load_signing_key(settings).public_key())  # type: ignore[arg-type]

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    path = default_key_path(settings)  # type: ignore[arg-type]
    on_disk = SM2PublicKey.from_pem(public_key_path(path).read_bytes())
    assert all(k == on_disk for k in found) and len(found) == 6
