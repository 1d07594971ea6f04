from __future__ import annotations

from pathlib import Path

import pytest

from detect.spool import BufferedWriter, Spool, SpoolError
from detect.stores.memory import MemoryStore
from tests.unit.detect.stores.store_conformance import make


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_outage_spools_to_disk_and_replays_in_order(tmp_path: Path) -> None:
    store, clock = MemoryStore(), Clock()
    writer = BufferedWriter(store, Spool(tmp_path), retry_interval=10, clock=clock)
    writer.write([make(0), make(1)])
    store.available = False
    writer.write([make(2)])
    store.available = True  # back, but the writer waits retry_interval before trying again
    writer.write([make(3)])
    assert len(store.events) == 2
    assert writer.buffered() == 2
    clock.now = 11
    writer.write([make(4)])
    assert list(store.events) == [make(i)["event.id"] for i in range(5)]
    assert writer.buffered() == 0
    assert writer.delivery.result.stored == 5


def test_spool_survives_a_restart_and_is_counted_as_replayed(tmp_path: Path) -> None:
    store = MemoryStore()
    store.available = False
    first = BufferedWriter(store, Spool(tmp_path / "spool"))
    first.write([make(0), make(1)])
    assert first.buffered() == 2
    store.available = True
    second = BufferedWriter(store, Spool(tmp_path / "spool"))
    assert second.drain(timeout=1)
    assert second.delivery.replayed.stored == 2
    assert second.delivery.result.stored == 0
    assert not list((tmp_path / "spool").iterdir())


def test_replaying_twice_gives_duplicates_not_copies(tmp_path: Path) -> None:
    store = MemoryStore()
    spool = Spool(tmp_path)
    segment = spool.append("run1", [make(0)])
    copy = segment.read_bytes()
    writer = BufferedWriter(store, spool)
    writer.replay()
    segment.write_bytes(copy)  # as if we crashed before deleting it
    writer.replay()
    assert len(store.events) == 1
    assert writer.delivery.replayed.duplicates == 1


def test_drain_gives_up_after_timeout(tmp_path: Path) -> None:
    store = MemoryStore()
    store.available = False
    writer = BufferedWriter(store, Spool(tmp_path), retry_interval=0.01)
    writer.write([make(0)])
    assert not writer.drain(timeout=0.05)
    assert writer.buffered() == 1


def test_an_identical_event_already_spooled_is_not_spooled_again(tmp_path: Path) -> None:
    store = MemoryStore()
    store.available = False
    first = BufferedWriter(store, Spool(tmp_path))
    first.write([make(0), make(1)])
    assert first.buffered() == 2
    segments = sorted(tmp_path.iterdir())
    # A second run over the same input, the store still down: nothing new on disk.
    second = BufferedWriter(store, Spool(tmp_path), retry_interval=0)
    second.write([make(0), make(1)])
    assert sorted(tmp_path.iterdir()) == segments
    assert second.buffered() == 2  # its two events wait in the first run's segment
    # Same id, other content: a collision is spooled, never dropped.
    changed = {**make(1), "message": "other content"}
    second.write([changed])
    assert len(sorted(tmp_path.iterdir())) == len(segments) + 1
    assert second.buffered() == 3
    # The store comes back: the first run's copies are delivered by the replay; for the
    # second run its two identical events are duplicates, the changed one reaches the store.
    store.available = True
    assert second.drain(timeout=1)
    assert second.buffered() == 0
    assert second.delivery.replayed.stored == 2
    result = second.delivery.result
    # The two deferred events are duplicates; the changed one was written to the store (which
    # reports it as it reports a reused id: duplicate or collision).
    assert result.duplicates >= 2
    assert result.stored + result.duplicates + getattr(result, "collisions", 0) == 3
    assert not list(tmp_path.iterdir())


def test_an_unwritable_spool_with_the_store_down_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = MemoryStore()
    store.available = False
    writer = BufferedWriter(store, Spool(blocker / "spool"))
    with pytest.raises(SpoolError, match="cannot write the spool"):
        writer.write([make(0)])
