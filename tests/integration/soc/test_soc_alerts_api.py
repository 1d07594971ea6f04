"""Alert ingest, the triage queue, the workflow and analyst actions, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from soc.api.alerts import public
from soc.models import Alert
from soc.schemas import AlertDetail
from soc.workflow import TRANSITIONS

pytestmark = pytest.mark.filterwarnings("error")


def test_ingest_is_idempotent_and_groups_by_dedup_key(soc):
    first = soc.alert(dedup_key="same", event_ids=["e1"])
    second = soc.alert(
        dedup_key="same",
        event_ids=["e2"],
        tags=["attack.t1078"],
        first_seen="2025-12-31T23:00:00.000Z",
        last_seen="2026-01-02T00:00:00.000Z",
    )
    assert soc.ingest(first)["created"] == 1
    again = soc.ingest(first)
    assert again["duplicates"] == 1 and again["created"] == 0 and again["grouped"] == 0
    grouped = soc.ingest(second)
    assert grouped["grouped"] == 1
    alert_id = grouped["alert_ids"][0]
    body = soc.client.get(f"/api/v1/alerts/{alert_id}", headers=soc.headers("analyst")).json()
    assert body["count"] == 2
    assert body["first_seen"].startswith("2025-12-31T23:00")
    assert body["last_seen"].startswith("2026-01-02T00:00")
    assert "attack.t1078" in body["tags"]
    # The new tag is filterable too.
    page = soc.client.get(
        "/api/v1/alerts", params={"technique": "T1078"}, headers=soc.headers("analyst")
    ).json()
    assert [a["id"] for a in page["items"]] == [alert_id]


def test_a_resolved_group_is_not_reopened_by_a_new_occurrence(soc):
    alert_id = soc.new_alert(dedup_key="k")
    headers = soc.headers("analyst")
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/transition",
        headers=headers,
        json={"status": "resolved", "reason": "true_positive", "version": 1},
    )
    assert r.status_code == 200
    result = soc.ingest(soc.alert(dedup_key="k"))
    assert result["created"] == 1 and result["alert_ids"] != [alert_id]


def test_ingest_collects_bad_items_and_stores_the_good(soc):
    good = soc.alert()
    tampered = dict(soc.alert(), alert_id="0" * 32)
    result = soc.client.post(
        "/api/v1/alerts/ingest",
        json={"alerts": [good, {"rule_id": "x"}, tampered, dict(soc.alert(), level="huge")]},
        headers=soc.headers("service"),
    ).json()
    assert result["created"] == 1
    assert [r["index"] for r in result["rejected"]] == [1, 2, 3]
    assert "alert_id 与规则、规则哈希和事件编号不符" in result["rejected"][1]["error"]


def test_filters_and_keyset_pagination(soc):
    ids = []
    for i in range(7):
        ids.append(
            soc.new_alert(
                level="critical" if i % 2 else "low",
                rule_id=f"rule-{i % 3}",
                fields={"source.ip": f"198.51.100.{i}", "host.name": "db-1" if i < 3 else "web-2"},
                last_seen=f"2026-01-01T02:{i:02d}:00.000Z",
            )
        )
    headers = soc.headers("analyst")

    def listing(**params):
        r = soc.client.get("/api/v1/alerts", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    assert [a["id"] for a in listing(severity="critical")["items"]] == [ids[5], ids[3], ids[1]]
    assert {a["id"] for a in listing(host="db-1")["items"]} == set(ids[:3])
    assert [a["id"] for a in listing(source_ip="198.51.100.4")["items"]] == [ids[4]]
    assert {a["id"] for a in listing(rule_id="rule-0")["items"]} == {ids[0], ids[3], ids[6]}
    assert len(listing(tactic="credential_access")["items"]) == 7
    assert listing(technique="T1566")["items"] == []
    window = listing(since="2026-01-01T02:02:00Z", until="2026-01-01T02:04:00Z")
    assert {a["id"] for a in window["items"]} == {ids[2], ids[3]}

    for sort, order in [
        ("last_seen", "desc"),
        ("severity", "desc"),
        ("id", "asc"),
        ("first_seen", "asc"),
    ]:
        seen, cursor = [], None
        while True:
            params = {"sort": sort, "order": order, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = listing(**params)
            seen += [a["id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        full = [a["id"] for a in listing(sort=sort, order=order, limit=100)["items"]]
        assert seen == full and sorted(seen) == sorted(ids), sort
    assert (
        soc.client.get("/api/v1/alerts", params={"cursor": "garbage"}, headers=headers).status_code
        == 400
    )


@pytest.mark.parametrize("start", list(TRANSITIONS))
def test_only_allowed_transitions_happen(soc, start):
    paths = {
        "new": [],
        "acknowledged": ["acknowledged"],
        "investigating": ["acknowledged", "investigating"],
        "resolved": ["resolved"],
    }
    headers = soc.headers("analyst")
    for target in TRANSITIONS:
        alert_id = soc.new_alert()
        version = 1
        for step in paths[start]:
            body = {"status": step, "version": version}
            if step == "resolved":
                body["reason"] = "duplicate"
            r = soc.client.post(f"/api/v1/alerts/{alert_id}/transition", json=body, headers=headers)
            assert r.status_code == 200, r.text
            version = r.json()["version"]
        body = {"status": target, "version": version}
        if target == "resolved":
            body["reason"] = "benign_true_positive"
        r = soc.client.post(f"/api/v1/alerts/{alert_id}/transition", json=body, headers=headers)
        if target in TRANSITIONS[start]:
            assert r.status_code == 200, (start, target, r.text)
            assert r.json()["status"] == target
        else:
            assert r.status_code == 409, (start, target, r.text)
            detail = soc.client.get(f"/api/v1/alerts/{alert_id}", headers=headers).json()
            assert detail["status"] == start and detail["version"] == version


def test_resolution_records_reason_and_times(soc):
    alert_id = soc.new_alert()
    h = soc.headers("analyst")
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/transition",
        headers=h,
        json={"status": "resolved", "version": 1},
    )
    assert r.status_code == 409 and "需要关闭原因" in r.json()["detail"]
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/transition",
        headers=h,
        json={"status": "resolved", "reason": "maybe", "version": 1},
    )
    assert r.status_code == 422
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/transition",
        headers=h,
        json={"status": "resolved", "reason": "false_positive", "version": 1},
    )
    body = r.json()
    assert body["closing_reason"] == "false_positive"
    assert body["acknowledged_at"] is not None and body["resolved_at"] is not None


def test_if_match_and_version_preconditions(soc):
    alert_id = soc.new_alert()
    h = soc.headers("analyst")
    etag = soc.client.get(f"/api/v1/alerts/{alert_id}", headers=h).headers["etag"]
    assert etag == '"1"'
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/transition", headers=h, json={"status": "acknowledged"}
    )
    assert r.status_code == 428
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/transition",
        headers={**h, "If-Match": etag},
        json={"status": "acknowledged"},
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    stale = soc.client.post(
        f"/api/v1/alerts/{alert_id}/assign",
        headers={**h, "If-Match": etag},
        json={"assignee": "bob"},
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    stale = soc.client.post(
        f"/api/v1/alerts/{alert_id}/assign", headers=h, json={"assignee": "bob", "version": 1}
    )
    assert stale.status_code == 409
    ok = soc.client.post(
        f"/api/v1/alerts/{alert_id}/assign", headers=h, json={"assignee": "bob", "version": 2}
    )
    assert ok.status_code == 200 and ok.json()["assignee"] == "bob"


def test_assignment_notifies_and_filters(soc):
    alert_id = soc.new_alert()
    other = soc.new_alert()
    h = soc.headers("analyst")
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/assign", headers=h, json={"assignee": "bob", "version": 1}
    )
    assert r.status_code == 200
    assert soc.notifier.messages == [
        {
            "event": "alert.assigned",
            "alert_id": alert_id,
            "title": "SSH brute force",
            "severity": "high",
            "assignee": "bob",
            "by": "ana",
            "recipients": [],  # bob has no e-mail address on file
        }
    ]
    mine = soc.client.get("/api/v1/alerts", params={"assignee": "bob"}, headers=h).json()
    assert [a["id"] for a in mine["items"]] == [alert_id]
    free = soc.client.get("/api/v1/alerts", params={"unassigned": True}, headers=h).json()
    assert [a["id"] for a in free["items"]] == [other]
    bad = soc.client.post(
        f"/api/v1/alerts/{alert_id}/assign", headers=h, json={"assignee": "reg", "version": 2}
    )
    assert bad.status_code == 400


def test_comments_and_evidence(soc):
    alert_id = soc.new_alert(event_ids=["x1", "x2", "x3"])
    soc.events.add(
        [
            {
                "event.id": "x1",
                "@timestamp": "2026-01-01T00:00:00.000Z",
                "event.dataset": "auth",
                "event.original": "Failed password for root from 192.0.2.7",
            },
            {
                "event.id": "x3",
                "@timestamp": "2026-01-01T00:00:01.000Z",
                "event.dataset": "auth",
                "event.original": "Failed password for admin from 192.0.2.7",
            },
        ]
    )
    h = soc.headers("analyst")
    evidence = soc.client.get(f"/api/v1/alerts/{alert_id}/events", headers=h).json()
    assert evidence["requested"] == 3
    assert [e["event.original"] for e in evidence["events"]] == [
        "Failed password for root from 192.0.2.7",
        "Failed password for admin from 192.0.2.7",
    ]
    assert (
        soc.client.post(
            f"/api/v1/alerts/{alert_id}/comments", headers=h, json={"body": "   "}
        ).status_code
        == 400
    )
    r = soc.client.post(
        f"/api/v1/alerts/{alert_id}/comments", headers=h, json={"body": "looks like a scanner"}
    )
    assert r.status_code == 201
    comments = soc.client.get(f"/api/v1/alerts/{alert_id}/comments", headers=h).json()
    assert [(c["author"], c["body"]) for c in comments] == [("ana", "looks like a scanner")]


def test_bulk_collects_per_alert_results(soc):
    a, b, c = soc.new_alert(), soc.new_alert(), soc.new_alert()
    h = soc.headers("analyst")
    soc.client.post(
        f"/api/v1/alerts/{b}/transition",
        headers=h,
        json={"status": "resolved", "reason": "duplicate", "version": 1},
    )
    r = soc.client.post(
        "/api/v1/alerts/bulk",
        headers=h,
        json={
            "items": [
                {"id": a, "version": 1},
                {"id": b, "version": 2},
                {"id": c, "version": 7},
                {"id": 99999, "version": 1},
            ],
            "status": "acknowledged",
            "assignee": "bob",
        },
    )
    results = {x["id"]: x for x in r.json()["results"]}
    assert results[a]["ok"] and results[a]["version"] == 3
    assert not results[b]["ok"] and "从 resolved 转为 acknowledged" in results[b]["error"]
    assert not results[c]["ok"] and "之后已被修改" in results[c]["error"]
    assert not results[99999]["ok"]
    # Failures changed nothing.
    detail = soc.client.get(f"/api/v1/alerts/{c}", headers=h).json()
    assert detail["status"] == "new" and detail["assignee"] is None and detail["version"] == 1


def test_correlation_group_values_fill_host_and_source(soc):
    """detect puts a correlation's group-by values under fields.group; the queue shows them."""
    alert_id = soc.new_alert(
        fields={"correlation": "event_count", "group": {"source.ip": "203.0.113.9"}}
    )
    body = soc.client.get(f"/api/v1/alerts/{alert_id}", headers=soc.headers("analyst")).json()
    assert body["source_ip"] == "203.0.113.9"
    page = soc.client.get(
        "/api/v1/alerts", params={"source_ip": "203.0.113.9"}, headers=soc.headers("analyst")
    ).json()
    assert [a["id"] for a in page["items"]] == [alert_id]


def test_detail_equals_the_orm_read_of_the_alert(soc):
    """The one-statement detail read == the straightforward ORM path (columns, assignee, tags)."""
    ids = [
        soc.new_alert(level=level, tags=tags, fields=fields)
        for level, tags, fields in [
            ("critical", ["attack.t1110", "attack.credential_access"], {"host.name": "web-1"}),
            ("low", [], {}),
            ("high", ["attack.t1046"], {"source.ip": "198.51.100.4", "host.name": "db-2"}),
        ]
    ]
    r = soc.client.post(
        f"/api/v1/alerts/{ids[0]}/assign",
        headers=soc.headers("analyst"),
        json={"assignee": "bob", "version": 1},
    )
    assert r.status_code == 200, r.text
    for alert_id in ids:
        got = soc.client.get(f"/api/v1/alerts/{alert_id}", headers=soc.headers("analyst"))
        assert got.status_code == 200, got.text
        with soc.db.read() as session:
            alert = session.get(Alert, alert_id)
            want = public(session, [alert], AlertDetail)[0]
            assert got.headers["etag"] == f'"{alert.version}"'
        assert got.json() == want.model_dump(mode="json")
    assert (
        soc.client.get(f"/api/v1/alerts/{ids[0]}", headers=soc.headers("analyst")).json()[
            "assignee"
        ]
        == "bob"
    )
    missing = soc.client.get("/api/v1/alerts/999999", headers=soc.headers("analyst"))
    assert missing.status_code == 404
