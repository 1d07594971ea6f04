"""The hot GET cache: same answers as the endpoints, never stale, never skips authorisation.

Runs on SQLite and PostgreSQL (the data version triggers differ). A second app on the same
database with the cache disabled is the reference: after every write, the cached app must
answer exactly what the uncached one answers.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from crypto.sm3 import sm3
from soc import auth, data_version
from soc.app import create_app
from soc.models import Alert, User

from .conftest import SocEnv

LIST = "/api/v1/alerts?limit=50"


def _reference(soc: SocEnv) -> TestClient:
    return TestClient(create_app(soc.db, hash_fn=sm3, cookie_secure=False, hot_cache_entries=0))


def _same(soc: SocEnv, ref: TestClient, path: str, who: str = "analyst") -> dict[str, Any]:
    got = soc.client.get(path, headers=soc.headers(who))
    want = ref.get(path, headers=soc.headers(who))
    assert got.status_code == want.status_code == 200, got.text
    assert got.content == want.content
    assert got.headers.get("etag") == want.headers.get("etag")
    assert got.headers["content-type"] == want.headers["content-type"]
    assert got.headers["content-length"] == want.headers["content-length"]
    return dict(got.json())


def test_a_repeated_get_is_served_from_the_cache(soc: SocEnv) -> None:
    alert = soc.new_alert()
    cache = soc.app.state.runtime.hot_cache
    with _reference(soc) as ref:
        for path in (LIST, f"/api/v1/alerts/{alert}"):
            before = cache.hits
            _same(soc, ref, path)
            _same(soc, ref, path)
            assert cache.hits == before + 1


def test_every_kind_of_write_invalidates(soc: SocEnv) -> None:
    first = soc.new_alert(dedup_key="same")
    detail = f"/api/v1/alerts/{first}"
    with _reference(soc) as ref:
        _same(soc, ref, LIST)
        _same(soc, ref, detail)
        soc.new_alert(dedup_key="same")  # grouping: count 2, no version change of the alert
        assert _same(soc, ref, detail)["count"] == 2
        r = soc.client.post(
            f"{detail}/transition",
            json={"status": "acknowledged", "version": 1},
            headers=soc.headers("analyst"),
        )
        assert r.status_code == 200, r.text
        assert _same(soc, ref, detail)["status"] == "acknowledged"
        assert _same(soc, ref, LIST)["items"][0]["status"] == "acknowledged"
        r = soc.client.post(
            f"{detail}/assign",
            json={"assignee": "bob", "version": 2},
            headers=soc.headers("analyst"),
        )
        assert r.status_code == 200, r.text
        assert _same(soc, ref, detail)["assignee"] == "bob"
        with soc.db.write() as session:  # an admin's direct SQL counts too
            session.execute(update(User).where(User.username == "bob").values(username="robert"))
        assert _same(soc, ref, detail)["assignee"] == "robert"
        with soc.db.write() as session:
            session.execute(update(Alert).where(Alert.id == first).values(title="changed"))
        assert _same(soc, ref, detail)["title"] == "changed"
        assert _same(soc, ref, LIST)["items"][0]["title"] == "changed"


def test_authorisation_is_checked_on_every_cached_request(soc: SocEnv) -> None:
    alert = soc.new_alert()
    path = f"/api/v1/alerts/{alert}"
    assert soc.client.get(path, headers=soc.headers("analyst")).status_code == 200
    assert soc.client.get(path, headers=soc.headers("admin")).status_code == 200
    # Cached now; other callers still get what the endpoint gives them.
    assert soc.client.get(path, headers=soc.headers("regulator")).status_code == 403
    assert soc.client.get(path, headers=soc.headers("service")).status_code == 403
    assert soc.client.get(path).status_code == 401
    assert soc.client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    with soc.db.write() as session:
        auth.revoke_tokens(session, "ana")
    assert soc.client.get(path, headers=soc.headers("analyst")).status_code == 401
    with soc.db.write() as session:
        session.execute(update(User).where(User.username == "admin").values(active=False))
    assert soc.client.get(path, headers=soc.headers("admin")).status_code == 401


def test_cached_and_uncached_answers_agree_for_every_role(soc: SocEnv) -> None:
    """The fast path admits exactly whom each endpoint admits (one role set, one check)."""
    alert = soc.new_alert()
    paths = (LIST, f"/api/v1/alerts/{alert}", "/api/v1/metrics?days=7")
    with _reference(soc) as ref:
        for path in paths:
            assert soc.client.get(path, headers=soc.headers("admin")).status_code == 200
        hits = soc.app.state.runtime.hot_cache.hits
        for role in auth.ROLES:
            for path in paths:
                got = soc.client.get(path, headers=soc.headers(role))
                want = ref.get(path, headers=soc.headers(role))
                assert got.status_code == want.status_code, (role, path)
        assert soc.app.state.runtime.hot_cache.hits > hits  # the fast path answered some


def test_the_data_version_moves_with_alerts_tags_and_users(soc: SocEnv) -> None:
    def version() -> int:
        with soc.db.read() as session:
            return data_version.current(session)

    start = version()
    soc.new_alert()
    after_ingest = version()
    assert after_ingest > start
    with soc.db.write() as session:
        session.execute(update(User).where(User.username == "bob").values(active=True))
    assert version() > after_ingest
    now = version()
    soc.client.get(LIST, headers=soc.headers("analyst"))  # reads change nothing
    assert version() == now


op_st = st.one_of(
    st.tuples(
        st.just("ingest"), st.sampled_from(["a", "b", "c"]), st.sampled_from(["high", "low"])
    ),
    st.tuples(st.just("move"), st.integers(0, 9), st.sampled_from(["acknowledged", "resolved"])),
    st.tuples(st.just("get"), st.integers(0, 9), st.sampled_from(["", "&severity=high"])),
)


@pytest.mark.slow
def test_random_reads_and_writes_match_the_uncached_app(soc: SocEnv) -> None:
    ref = _reference(soc)
    ids: list[int] = []

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=st.lists(op_st, min_size=1, max_size=12))
    def check(ops: list[tuple[str, Any, str]]) -> None:
        for kind, a, b in ops:
            if kind == "ingest":
                ids.append(soc.new_alert(dedup_key=f"k-{a}", level=b))
            elif kind == "move" and ids:
                target = ids[a % len(ids)]
                current = soc.client.get(
                    f"/api/v1/alerts/{target}", headers=soc.headers("analyst")
                ).json()
                body: dict[str, Any] = {"status": b, "version": current["version"]}
                if b == "resolved":
                    body["reason"] = "false_positive"
                soc.client.post(
                    f"/api/v1/alerts/{target}/transition",
                    json=body,
                    headers=soc.headers("analyst"),
                )
            elif kind == "get":
                _same(soc, ref, LIST + b)
                if ids:
                    _same(soc, ref, f"/api/v1/alerts/{ids[a % len(ids)]}")

    try:
        check()
    finally:
        ref.close()


def test_metrics_are_cached_until_their_own_ttl_and_still_authorised(soc: SocEnv) -> None:
    app = create_app(soc.db, hash_fn=sm3, cookie_secure=False, metrics_ttl=0.5)
    cache = app.state.runtime.hot_cache
    path = "/api/v1/metrics?days=7"
    soc.new_alert(level="critical")
    with TestClient(app) as client:
        first = client.get(path, headers=soc.headers("regulator"))
        assert first.status_code == 200
        before = cache.hits
        again = client.get(path, headers=soc.headers("analyst"))
        assert again.content == first.content and cache.hits == before + 1
        assert again.headers["content-type"] == "application/json"
        # Cached, yet a service account is still refused and a stranger still unknown.
        assert client.get(path, headers=soc.headers("service")).status_code == 403
        assert client.get(path).status_code == 401
        soc.new_alert(level="critical")
        time.sleep(0.6)  # past the metrics TTL: the new alert shows
        fresh = client.get(path, headers=soc.headers("regulator")).json()
        assert fresh["severity"]["critical"]["alerts"] == 2


def test_concurrent_misses_after_a_write_all_get_the_current_answer(soc: SocEnv) -> None:
    ref = _reference(soc)
    first = soc.new_alert()
    soc.client.get(LIST, headers=soc.headers("analyst"))
    soc.client.get(f"/api/v1/alerts/{first}", headers=soc.headers("analyst"))
    newest = soc.new_alert(level="critical")  # a write: every cached body is stale now
    paths = [LIST, f"/api/v1/alerts/{first}"] * 6
    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(lambda p: soc.client.get(p, headers=soc.headers("analyst")), paths))
    for path, response in zip(paths, got, strict=True):
        want = ref.get(path, headers=soc.headers("analyst"))
        assert response.status_code == want.status_code == 200, response.text
        assert response.content == want.content
        assert response.headers.get("etag") == want.headers.get("etag")
        assert response.headers["content-type"] == want.headers["content-type"]
    assert newest in [item["id"] for item in got[0].json()["items"]]
