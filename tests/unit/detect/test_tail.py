from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from detect.deadletter import DeadLetterFile
from detect.ingest import Ingestor
from detect.parsers.syslog import SyslogParser
from detect.spool import BufferedWriter, Spool
from detect.stores.memory import MemoryStore
from detect.tail import Follower


def line(n: int) -> bytes:
    return f"Mar  3 10:00:{n % 60:02d} web1 app[1]: message {n}\n".encode()


_open: list[Follower] = []


@pytest.fixture(autouse=True)
def _close_followers() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def follower(tmp_path: Path, store: MemoryStore, log: Path) -> Follower:
    ingestor = Ingestor(
        BufferedWriter(store, Spool(tmp_path / "spool")), DeadLetterFile(tmp_path / "dead")
    )
    tail = Follower(log, tmp_path / "state", ingestor, SyslogParser(year=2026))
    _open.append(tail)
    return tail


def messages(store: MemoryStore) -> list[str]:
    return sorted(e["message"] for e in store.events.values())


def test_follows_appends_and_waits_for_complete_lines(tmp_path: Path) -> None:
    log, store = tmp_path / "app.log", MemoryStore()
    log.write_bytes(line(1) + line(2))
    tail = follower(tmp_path, store, log)
    assert tail.poll() == 2
    with log.open("ab") as handle:
        handle.write(line(3) + line(4)[:10])
    assert tail.poll() == 1
    with log.open("ab") as handle:
        handle.write(line(4)[10:])
    assert tail.poll() == 1
    assert messages(store) == [f"message {n}" for n in (1, 2, 3, 4)]


def test_offset_survives_restart_and_rotation_while_down(tmp_path: Path) -> None:
    log, store = tmp_path / "app.log", MemoryStore()
    log.write_bytes(line(1))
    first = follower(tmp_path, store, log)
    first.poll()
    first.close()
    with log.open("ab") as handle:  # written after we stopped ...
        handle.write(line(2))
    os.rename(log, tmp_path / "app.log.1")  # ... then rotated away
    log.write_bytes(line(3))
    second = follower(tmp_path, store, log)
    assert second.poll() == 2
    assert messages(store) == ["message 1", "message 2", "message 3"]
    assert second.poll() == 0


def test_rotation_while_running_reads_the_old_file_to_its_end(tmp_path: Path) -> None:
    log, store = tmp_path / "app.log", MemoryStore()
    log.write_bytes(line(1))
    tail = follower(tmp_path, store, log)
    tail.poll()
    with log.open("ab") as handle:
        handle.write(line(2))
    os.rename(log, tmp_path / "app.log.1")
    log.write_bytes(line(3))
    tail.poll()
    assert messages(store) == ["message 1", "message 2", "message 3"]


def test_copytruncate_restarts_from_zero(tmp_path: Path) -> None:
    log, store = tmp_path / "app.log", MemoryStore()
    log.write_bytes(line(1) + line(2))
    tail = follower(tmp_path, store, log)
    tail.poll()
    log.write_bytes(line(5))  # same inode, shorter
    assert tail.poll() == 1
    assert "message 5" in messages(store)


def test_reingesting_tailed_lines_stores_nothing_twice(tmp_path: Path) -> None:
    log, store = tmp_path / "app.log", MemoryStore()
    log.write_bytes(line(1) + line(2))
    follower(tmp_path, store, log).poll()
    (tmp_path / "state").rename(tmp_path / "old-state")  # forget the offset
    follower(tmp_path, store, log).poll()
    assert len(store.events) == 2
