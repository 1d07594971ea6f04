"""Cases: from alerts, linking, observables, tasks, timeline, grade and reporting deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from soc.grading import deadline


def test_case_lifecycle(soc):
    a1 = soc.new_alert(first_seen="2026-01-01T00:00:00.000Z", last_seen="2026-01-01T00:05:00.000Z")
    a2 = soc.new_alert(first_seen="2025-12-31T23:30:00.000Z", last_seen="2026-01-01T00:00:00.000Z")
    h = soc.headers("analyst")
    r = soc.client.post(
        "/api/v1/cases",
        headers=h,
        json={
            "title": "Credential stuffing on the portal",
            "alert_ids": [a1],
            "category": "network_attack",
            "grade": "重大",
            "system_class": "government",
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]
    assert case["deadline"]["required"] and case["deadline"]["hours"] == 2
    assert case["deadline"]["due"].startswith("2026-01-01T02:00")
    assert case["detected_at"].startswith("2026-01-01T00:00")

    case = soc.client.post(
        f"/api/v1/cases/{cid}/alerts", headers=h, json={"alert_ids": [a2]}
    ).json()
    assert {a["id"] for a in case["alerts"]} == {a1, a2}
    assert case["detected_at"].startswith("2025-12-31T23:30")  # the earliest alert
    assert (
        soc.client.post(
            f"/api/v1/cases/{cid}/observables", headers=h, json={"kind": "ip", "value": "192.0.2.7"}
        ).status_code
        == 201
    )
    assert (
        soc.client.post(
            f"/api/v1/cases/{cid}/observables", headers=h, json={"kind": "colour", "value": "red"}
        ).status_code
        == 422
    )
    task = soc.client.post(
        f"/api/v1/cases/{cid}/tasks", headers=h, json={"title": "Reset passwords"}
    ).json()
    done = soc.client.post(f"/api/v1/cases/{cid}/tasks/{task['id']}/done", headers=h).json()
    assert done["done"] is True
    soc.client.post(f"/api/v1/cases/{cid}/notes", headers=h, json={"text": "called the owner"})

    got = soc.client.get(f"/api/v1/cases/{cid}", headers=h)
    assert got.headers["etag"] == '"1"'
    reported = "2026-01-01T01:00:00Z"
    r = soc.client.patch(
        f"/api/v1/cases/{cid}",
        headers={**h, "If-Match": '"1"'},
        json={"reported_at": reported, "grade": "较大"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grade"] == "较大" and body["version"] == 2
    assert body["deadline"]["state"] == "met"  # government: 2 h; reported 1.5 h after
    kinds = [t["kind"] for t in body["timeline"]]
    assert kinds == ["created", "linked", "observable", "task", "task_done", "note", "updated"]
    stale = soc.client.patch(
        f"/api/v1/cases/{cid}", headers={**h, "If-Match": '"1"'}, json={"status": "closed"}
    )
    assert stale.status_code == 412
    bad = soc.client.patch(f"/api/v1/cases/{cid}", headers=h, json={"grade": "huge", "version": 2})
    assert bad.status_code == 400


def test_an_alert_belongs_to_one_case(soc):
    a = soc.new_alert()
    h = soc.headers("analyst")
    body = {"title": "t", "alert_ids": [a], "category": "malware", "grade": "一般"}
    first = soc.client.post("/api/v1/cases", headers=h, json=body).json()
    assert first["deadline"] == {
        "required": False,
        "hours": None,
        "due": None,
        "state": "not_required",
    }
    second = soc.client.post("/api/v1/cases", headers=h, json={**body, "alert_ids": []}).json()
    r = soc.client.post(f"/api/v1/cases/{second['id']}/alerts", headers=h, json={"alert_ids": [a]})
    # Chinese by default (the error names both numbers).
    assert r.status_code == 400 and f"告警 {a} 已属于事件" in r.json()["detail"]
    assert (
        soc.client.post(
            "/api/v1/cases", headers=h, json={**body, "alert_ids": [424242]}
        ).status_code
        == 404
    )


def test_deadline_table():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for grade, system, hours in [
        ("特别重大", "cii", 1),
        ("重大", "government", 2),
        ("较大", "other", 4),
    ]:
        due = deadline(grade, system, t0, None, t0)
        assert due.hours == hours and due.state == "pending"
        assert deadline(grade, system, t0, None, t0 + timedelta(hours=hours, seconds=1)).state == (
            "overdue"
        )
        assert deadline(grade, system, t0, t0 + timedelta(hours=hours), t0).state == "met"
        late = t0 + timedelta(hours=hours, minutes=1)
        assert deadline(grade, system, t0, late, late).state == "missed"
