from __future__ import annotations

from collections.abc import Iterator

import pytest

from detect.stores.memory import MemoryStore
from tests.unit.detect.stores.store_conformance import StoreConformance, sample
from tulou.errors import UnavailableError


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        store = MemoryStore()
        yield store
        store.close()


def test_unavailable_memory_store_raises() -> None:
    store = MemoryStore()
    store.available = False
    with pytest.raises(UnavailableError):
        store.write(sample())
