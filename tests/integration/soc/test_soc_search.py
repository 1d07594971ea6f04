"""Finding 3: the search language over alerts, strict parameters, saved searches per user."""

from __future__ import annotations

import pytest


def ids(response):
    assert response.status_code == 200, response.text
    return sorted(a["id"] for a in response.json()["items"])


@pytest.fixture
def corpus(soc):
    a = soc.new_alert(
        title="SSH brute force on web-1",
        level="high",
        fields={"host.name": "web-1", "source.ip": "203.0.113.9", "user.name": "root"},
    )
    b = soc.new_alert(
        title="Port scan",
        level="low",
        rule_id="scan-rule",
        fields={"host.name": "db-1", "source.ip": "198.51.100.4"},
    )
    c = soc.new_alert(
        title="Malware beacon",
        level="critical",
        rule_id="beacon-rule",
        fields={"host.name": "web-2", "destination.ip": "192.0.2.80", "url.domain": "evil.example"},
        tags=["attack.command-and-control", "attack.t1071"],
    )
    h = soc.headers("analyst")
    r = soc.client.post(
        f"/api/v1/alerts/{b}/transition",
        headers=h,
        json={"status": "resolved", "reason": "false_positive", "version": 1},
    )
    assert r.status_code == 200
    return soc, h, a, b, c


def search(soc, h, q, **params):
    return soc.client.get("/api/v1/alerts", params={"q": q, **params}, headers=h)


def test_fields_boolean_operators_ranges_and_free_text(corpus):
    soc, h, a, b, c = corpus
    assert ids(search(soc, h, "host:web-1")) == [a]
    assert ids(search(soc, h, "host:web-*")) == [a, c]
    assert ids(search(soc, h, "severity:>=high")) == [a, c]
    assert ids(search(soc, h, "severity:[low TO high]")) == [a, b]
    assert ids(search(soc, h, "NOT status:resolved")) == [a, c]
    assert ids(search(soc, h, "-status:resolved severity:critical")) == [c]
    assert ids(search(soc, h, "host:db-1 OR domain:evil.example")) == [b, c]
    assert ids(search(soc, h, "(host:db-1 OR host:web-2) AND NOT severity:low")) == [c]
    assert ids(search(soc, h, "user:root")) == [a]
    assert ids(search(soc, h, "src:203.0.113.9")) == [a]
    assert ids(search(soc, h, "dst:192.0.2.80")) == [c]
    assert ids(search(soc, h, "brute")) == [a]  # free text: in the title
    assert ids(search(soc, h, '"port SCAN"')) == [b]  # case-insensitive phrase
    assert ids(search(soc, h, "technique:T1071")) == [c]
    assert ids(search(soc, h, "rule:beacon")) == [c]  # id prefix
    assert ids(search(soc, h, f"id:[{b} TO *]")) == [b, c]
    assert ids(search(soc, h, "reason:false_positive")) == [b]
    assert ids(search(soc, h, "created:>now-1h")) == [a, b, c]
    assert ids(search(soc, h, "created:<now-1h")) == []
    assert ids(search(soc, h, "count:>1")) == []
    # The query combines with the other filters (ANDed).
    assert ids(search(soc, h, "host:web-*", severity="critical")) == [c]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("colour:blue", "未知字段 'colour'"),
        ("severity:huge", "未知的严重程度 'huge'"),
        ("status:bogus", "'bogus' 不在可选值"),
        ("count:many", "'many' 不是整数"),
        ("last_seen:>yesterday", "不是时间"),
        ("host:>a", "只能用 ':' 比较"),
        ("(host:a", "括号未闭合"),
    ],
)
def test_bad_queries_are_400_with_a_reason(corpus, query, fragment):
    soc, h, *_ = corpus
    r = search(soc, h, query)
    assert r.status_code == 400 and fragment in r.json()["detail"], r.text


def test_unknown_parameters_and_bad_values_are_errors(corpus):
    soc, h, *_ = corpus
    r = soc.client.get("/api/v1/alerts", params={"search": "x"}, headers=h)
    assert r.status_code == 400 and "search" in r.json()["detail"]
    assert "q" in r.json()["detail"]  # it says what the endpoint takes
    assert soc.client.get("/api/v1/alerts?status=bogus", headers=h).status_code == 422
    assert soc.client.get("/api/v1/alerts?severity=huge", headers=h).status_code == 422
    assert soc.client.get("/api/v1/alerts?sort=colour", headers=h).status_code == 422
    assert soc.client.get("/api/v1/alerts?limit=0", headers=h).status_code == 422
    assert soc.client.get("/api/v1/metrics?days=0", headers=h).status_code == 422
    assert soc.client.get("/api/v1/cases?x=1", headers=h).status_code == 400
    # In English when the caller asks for it.
    r = soc.client.get(
        "/api/v1/alerts", params={"q": "colour:x"}, headers={**h, "Accept-Language": "en"}
    )
    assert "unknown field 'colour'" in r.json()["detail"]


def test_the_queue_page_searches_and_refuses_typos(corpus):
    from tests.integration.soc.test_soc_web import login

    soc, _h, a, _b, c = corpus
    client = soc.client
    login(client)
    page = client.get("/alerts", params={"q": "host:web-*"})
    assert page.status_code == 200
    assert f'data-id="{a}"' in page.text and f'data-id="{c}"' in page.text
    assert "Port scan" not in page.text
    assert client.get("/alerts", params={"q": "host:(x"}).status_code == 400
    assert client.get("/alerts", params={"search": "x"}).status_code == 400
    assert client.get("/alerts", params={"status": "bogus"}).status_code == 400
    assert client.get("/dashboard", params={"days": 0}).status_code == 422
    rule = client.get("/alerts", params={"rule": "beacon"})  # a prefix, not the full id
    assert f'data-id="{c}"' in rule.text and f'data-id="{a}"' not in rule.text


def test_saved_searches_are_per_user(corpus):
    soc, h, *_ = corpus
    bob = soc.headers("bob")
    r = soc.client.post("/api/v1/searches", headers=h, json={"name": "web", "query": "host:web-*"})
    assert r.status_code == 201
    saved = r.json()
    assert soc.client.get("/api/v1/searches", headers=h).json()[0]["query"] == "host:web-*"
    assert soc.client.get("/api/v1/searches", headers=bob).json() == []
    assert soc.client.delete(f"/api/v1/searches/{saved['id']}", headers=bob).status_code == 404
    bad = soc.client.post("/api/v1/searches", headers=h, json={"name": "x", "query": "(a"})
    assert bad.status_code == 400  # a saved search always parses
    # Saving under the same name replaces the query.
    soc.client.post("/api/v1/searches", headers=h, json={"name": "web", "query": "host:web-1"})
    assert [s["query"] for s in soc.client.get("/api/v1/searches", headers=h).json()] == [
        "host:web-1"
    ]
    assert soc.client.delete(f"/api/v1/searches/{saved['id']}", headers=h).status_code == 204
    assert soc.client.get("/api/v1/searches", headers=h).json() == []
