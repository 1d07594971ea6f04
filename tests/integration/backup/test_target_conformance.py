"""The one conformance suite every backup target passes: memory, local, SFTP, S3.

SFTP runs against a real OpenSSH server on loopback (tests/fixtures/sshd.py); S3 against a real
S3-compatible HTTP server (moto's, tests/fixtures/s3.py). Each test gets a fresh, empty target.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup.targets import open_target
from backup.targets.base import Target
from backup.targets.memory import MemoryTarget
from tests.fixtures.s3 import S3Server
from tests.fixtures.sshd import SshdServer
from tulou.errors import ConfigError, InputError, NotFoundError, UsageError

KINDS = ("config", "keys", "snapshots", "index", "data", "locks")


def _name() -> str:
    return secrets.token_hex(32)


@pytest.fixture(params=["memory", "local", "sftp", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    kind = request.param
    if kind == "memory":
        made: Target = MemoryTarget()
    elif kind == "local":
        made = open_target(str(tmp_path / "repo"))
    elif kind == "sftp":
        server: SshdServer = request.getfixturevalue("sshd_server")
        made = open_target(server.url(tmp_path / "sftp-repo"), server.options)
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        made = open_target(s3.url(f"b{secrets.token_hex(6)}", "some/prefix"), s3.options)
        made.ensure_bucket()  # type: ignore[attr-defined]
    try:
        yield made
    finally:
        made.close()


def test_save_load_roundtrip_every_kind(target: Target) -> None:
    for kind in KINDS:
        name = "config" if kind == "config" else _name()
        data = secrets.token_bytes(1000) + kind.encode()
        target.save(kind, name, data)
        assert target.load(kind, name) == data
        assert target.stat(kind, name).size == len(data)
        assert [(i.name, i.size) for i in target.list(kind)] == [(name, len(data))]


def test_ranges(target: Target) -> None:
    name, data = _name(), bytes(range(256)) * 40
    target.save("data", name, data)
    assert target.load("data", name, 0, 10) == data[:10]
    assert target.load("data", name, 1000, 500) == data[1000:1500]
    assert target.load("data", name, len(data) - 7, 7) == data[-7:]
    assert target.load("data", name, 5000) == data[5000:]
    with pytest.raises(InputError):
        target.load("data", name, len(data) - 3, 10)


def test_never_replaces_a_file(target: Target) -> None:
    name = _name()
    target.save("index", name, b"first")
    with pytest.raises(FileExistsError):
        target.save("index", name, b"second")
    assert target.load("index", name) == b"first"


def test_missing_files_raise_not_found(target: Target) -> None:
    name = _name()
    for call in (
        lambda: target.load("snapshots", name),
        lambda: target.stat("snapshots", name),
        lambda: target.remove("snapshots", name),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert list(target.list("snapshots")) == []
    with pytest.raises(NotFoundError):
        target.load("config", "config")


def test_remove_and_list(target: Target) -> None:
    names = sorted(_name() for _ in range(5))
    for name in names:
        target.save("data", name, name.encode())
    target.remove("data", names[2])
    assert sorted(i.name for i in target.list("data")) == names[:2] + names[3:]
    assert list(target.list("index")) == []


def test_rejects_names_that_escape_the_repository(target: Target) -> None:
    for bad in ("../../etc/passwd", "ABCDEF0123456789", "", "a" * 7, "config"):
        with pytest.raises(UsageError):
            target.save("data", bad, b"x")
    with pytest.raises(UsageError):
        target.save("secrets", _name(), b"x")


def test_empty_file_and_large_file(target: Target) -> None:
    empty, large = _name(), _name()
    target.save("data", empty, b"")
    assert target.load("data", empty) == b""
    blob = secrets.token_bytes(5 << 20)
    target.save("data", large, blob)
    assert target.load("data", large) == blob


def test_concurrent_savers_of_one_name_one_wins(target: Target) -> None:
    name = _name()
    outcomes: list[str] = []

    def save(payload: bytes) -> None:
        try:
            target.save("locks", name, payload)
            outcomes.append("saved")
        except FileExistsError:
            outcomes.append("exists")

    if isinstance(target, MemoryTarget) or "local:" in target.location:
        threads = [threading.Thread(target=save, args=(bytes([i]) * 100,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:  # one connection per client: sequential attempts still exercise no-replace
        for i in range(4):
            save(bytes([i]) * 100)
    assert outcomes.count("saved") == 1
    assert len(target.load("locks", name)) == 100


def test_urls_with_credentials_are_refused() -> None:
    with pytest.raises(ConfigError):
        open_target("sftp://user:hunter2@127.0.0.1/srv/x")
    with pytest.raises(ConfigError):
        open_target("s3://key:secret@127.0.0.1/bucket")
    with pytest.raises(ConfigError):
        open_target("nosuchscheme://x/y")
