"""HotCache bounds: entries and bytes are capped, the oldest entries go first, 0 disables."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from soc.hot_cache import Entry, HotCache

ROLES = frozenset({"analyst"})


def test_oldest_entries_go_first_when_full() -> None:
    cache = HotCache(max_entries=2)
    for i in range(3):
        cache.put((f"/p{i}", b""), 1, b"x", {"content-type": "application/json"}, ROLES)
    assert cache.get(("/p0", b"")) is None
    assert cache.get(("/p1", b"")) is not None and cache.get(("/p2", b"")) is not None
    assert len(cache) == 2


def test_bytes_are_capped_and_replacing_an_entry_frees_its_bytes() -> None:
    cache = HotCache(max_entries=10, max_bytes=10)
    cache.put(("/a", b""), 1, b"12345", {}, ROLES)
    cache.put(("/a", b""), 2, b"123456", {}, ROLES)
    cache.put(("/b", b""), 1, b"1234", {}, ROLES)
    assert len(cache) == 2
    entry = cache.get(("/a", b""))
    assert entry is not None and entry.version == 2
    cache.put(("/c", b""), 1, b"123", {}, ROLES)  # 6 + 4 + 3 > 10: /a goes
    assert cache.get(("/a", b"")) is None and len(cache) == 2
    cache.put(("/huge", b""), 1, b"x" * 11, {}, ROLES)  # bigger than the cap: not stored
    assert cache.get(("/huge", b"")) is None


def test_zero_entries_disables_and_headers_are_lower_case_bytes() -> None:
    off = HotCache(0)
    off.put(("/a", b""), 1, b"x", {}, ROLES)
    assert not off.enabled and off.get(("/a", b"")) is None
    on = HotCache(1)
    on.put(("/a", b"q=1"), 7, b"x", {"ETag": '"3"'}, ROLES)
    entry = on.get(("/a", b"q=1"))
    assert entry is not None and entry.headers == ((b"etag", b'"3"'),)


def test_renew_extends_only_the_entry_it_was_given() -> None:
    cache = HotCache(4)
    cache.put(("/m", b""), 0, b"old", {}, ROLES, expires=time.monotonic() + 60)
    entry = cache.get(("/m", b""))
    assert entry is not None and entry.expires is not None
    cache.renew(("/m", b""), entry, entry.expires + 5)
    renewed = cache.get(("/m", b""))
    assert renewed is not None and renewed.expires == entry.expires + 5
    cache.renew(("/m", b""), entry, 0.0)  # a stale handle: someone replaced it meanwhile
    assert cache.get(("/m", b"")) is renewed
    cache.put(("/x", b""), 0, b"gone", {}, ROLES, expires=time.monotonic() - 1)
    assert cache.get(("/x", b"")) is None  # already expired: not stored


def test_concurrent_misses_of_one_key_produce_once() -> None:
    cache = HotCache()
    key = ("/api/v1/alerts", b"limit=50")
    version = {"now": 7}
    produced: list[int] = []
    started = threading.Event()

    def produce() -> str:
        started.set()
        time.sleep(0.2)  # the others arrive while this fill runs
        produced.append(1)
        cache.put(key, version["now"], b"body", {"content-type": "application/json"}, ROLES)
        return "produced"

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.fill, key, lambda: version["now"], produce)
        assert started.wait(5)
        others = [pool.submit(cache.fill, key, lambda: version["now"], produce) for _ in range(7)]
        results = [first.result(), *(f.result() for f in others)]
    assert len(produced) == 1 and results[0] == "produced"
    assert all(isinstance(r, Entry) and r.body == b"body" for r in results[1:])
    assert cache.shared == 7 and cache.fills == 1


def test_a_fill_tagged_with_an_older_version_is_not_shared() -> None:
    cache = HotCache()
    key = ("/api/v1/alerts/1", b"")
    cache.put(key, 3, b"old", {}, ROLES)
    # A write happened since (version 4): the cached body must not be answered.
    got = cache.fill(key, lambda: 4, lambda: "recomputed")
    assert got == "recomputed" and cache.shared == 0
