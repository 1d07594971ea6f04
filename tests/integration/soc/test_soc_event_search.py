"""Finding 3 (events): the search language over the event store, SQLite and the real
Elasticsearch, through the API and the page: sort both ways, exact totals, pages forward and
back that neither repeat nor skip."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from detect.stores import open_store
from soc.app import create_app
from soc.evidence import MemoryEventSource, StoreEventSource
from tests.integration.soc.test_soc_web import login

N = 37


def events() -> list[dict]:
    out = []
    for i in range(N):
        out.append(
            {
                "event.id": f"ev-{i:03d}",
                "@timestamp": f"2026-01-01T00:{i:02d}:00.000Z",
                "event.dataset": "auth" if i % 2 else "gateway.audit",
                "event.original": f"Failed password for {'root' if i % 3 == 0 else 'bob'} #{i}",
                "host.name": f"web-{i % 4}",
                "source.ip": "203.0.113.9" if i < 10 else "198.51.100.7",
                "user.name": "Root" if i % 3 == 0 else "bob",
                "destination.port": 22 if i % 5 else 443,
            }
        )
    return out


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)]
)
def store_url(request, tmp_path) -> Iterator[str]:
    if request.param == "memory":
        yield "memory"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
    else:
        base = request.getfixturevalue("elasticsearch_url")
        yield f"{base}/soc-search-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def app_env(soc_sqlite, store_url):
    if store_url == "memory":  # the seam's fake passes the same cases
        app = create_app(
            soc_sqlite.db, hash_fn=sm3, events=MemoryEventSource(events()), cookie_secure=False
        )
        with TestClient(app) as client:
            yield client, soc_sqlite.headers("analyst")
        return
    store = open_store(store_url)
    result = store.write(events())
    assert result.stored == N
    refresh = getattr(store, "refresh", None)
    if refresh is not None:
        refresh()
    else:
        client = getattr(store, "client", None)
        if client is not None:
            client.indices.refresh(index=store.index)
    source = StoreEventSource(opener=lambda: open_store(store_url))
    app = create_app(soc_sqlite.db, hash_fn=sm3, events=source, cookie_secure=False)
    client = TestClient(app)
    yield client, soc_sqlite.headers("analyst")
    client.close()
    store.close()


def search(client, h, **params):
    r = client.get("/api/v1/events", params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def numbers(page):
    return [int(e["event.id"][3:]) for e in page["events"]]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("", list(range(N))),
        ("source.ip:203.0.113.9", list(range(10))),
        ("user.name:root", [i for i in range(N) if i % 3 == 0]),  # case-insensitive
        ("host.name:web-1 AND event.dataset:auth", [i for i in range(N) if i % 4 == 1]),
        ("host.name:web-1 OR host.name:web-2", [i for i in range(N) if i % 4 in (1, 2)]),
        ("NOT destination.port:22", [i for i in range(N) if i % 5 == 0]),
        ("destination.port:>100", [i for i in range(N) if i % 5 == 0]),
        ("@timestamp:[2026-01-01T00:05:00Z TO 2026-01-01T00:07:00Z]", [5, 6, 7]),
        ("@timestamp:<2026-01-01T00:02:00Z", [0, 1]),
        ("host.name:web-*", list(range(N))),
        ('"password for root #3"', [3, 30, 33, 36]),
        ("#12", [12]),
        ("no.such.field:x", []),
    ],
)
def test_queries(app_env, q, expected):
    client, h = app_env
    page = search(client, h, q=q, order="asc", limit=200)
    assert numbers(page) == expected and page["total"] == len(expected)


def test_sort_totals_and_paging_both_ways(app_env):
    client, h = app_env
    first = search(client, h, q="", limit=10)
    assert first["total"] == N and numbers(first) == list(range(36, 26, -1))  # newest first
    assert first["prev_cursor"] is None
    seen, page = numbers(first), first
    while page["next_cursor"]:
        page = search(client, h, limit=10, after=page["next_cursor"])
        assert page["total"] == N
        seen += numbers(page)
    assert seen == list(range(N - 1, -1, -1))  # every event once, in order
    # Back from the last page to the first, the same pages in reverse.
    back = []
    while page["prev_cursor"]:
        page = search(client, h, limit=10, before=page["prev_cursor"])
        back.append(numbers(page))
    assert back[-1] == numbers(first) and [n for p in reversed(back) for n in p] == seen[: N - 7]
    oldest = search(client, h, order="asc", limit=5)
    assert numbers(oldest) == [0, 1, 2, 3, 4]


def test_bad_searches_are_4xx(app_env):
    client, h = app_env
    assert client.get("/api/v1/events", params={"q": "(a"}, headers=h).status_code == 400
    assert client.get("/api/v1/events", params={"sort": "x"}, headers=h).status_code == 400
    assert client.get("/api/v1/events", params={"order": "up"}, headers=h).status_code == 422
    assert client.get("/api/v1/events", params={"after": "!!"}, headers=h).status_code == 400
    r = client.get("/api/v1/events", params={"q": "@timestamp:>someday"}, headers=h)
    assert r.status_code == 400 and "不是时间" in r.json()["detail"]


def test_the_search_page(app_env):
    client, _h = app_env
    login(client)
    page = client.get("/search", params={"q": "source.ip:203.0.113.9", "limit": 20}).text
    assert 'data-total="10"' in page and "共 10 条符合条件的事件" in page
    assert page.count('class="event-row"') == 10 and 'id="next-page"' not in page
    page = client.get("/search", params={"limit": 20}).text
    assert 'id="next-page"' in page and 'id="prev-page"' not in page
