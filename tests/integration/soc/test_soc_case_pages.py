"""Finding 6: the web UI does what the API does -- bulk actions, cases closed and regraded with
an owner, many alerts linked at once, a case opened with its related alerts, observables
validated and enriched, case templates."""

from __future__ import annotations

import re

from tests.integration.soc.test_soc_web import csrf, login


def test_bulk_actions_from_the_queue_with_versions(soc_sqlite):
    soc = soc_sqlite
    a, b, c = soc.new_alert(), soc.new_alert(), soc.new_alert()
    client = soc.client
    login(client)
    page = client.get("/alerts").text
    token = csrf(page)
    # A colleague acknowledges c after our page was rendered (our page shows version 1).
    soc.client.post(
        f"/api/v1/alerts/{c}/transition",
        headers=soc.headers("bob"),
        json={"status": "acknowledged", "version": 1},
    )
    items = [f"{a}:1", f"{b}:1", f"{c}:1"]
    r = client.post(
        "/alerts/bulk",
        data={"csrf_token": token, "action": "assign", "assignee": "bob", "item": items},
    )
    assert r.status_code == 200
    assert r.text.count('class="bulk-ok"') == 2 and r.text.count('class="bulk-failed"') == 1
    assert f'class="bulk-failed" data-id="{c}"' in r.text and "之后已被修改" in r.text
    h = soc.headers("analyst")
    got = {i: soc.client.get(f"/api/v1/alerts/{i}", headers=h).json() for i in (a, b, c)}
    assert got[a]["assignee"] == got[b]["assignee"] == "bob"
    assert got[c]["assignee"] is None  # the colleague's change was not overwritten
    assert sorted(m["alert_id"] for m in soc.notifier.messages) == [a, b]
    r = client.post(
        "/alerts/bulk",
        data={
            "csrf_token": token,
            "action": "resolved",
            "reason": "false_positive",
            "item": [f"{a}:2", f"{b}:2"],
        },
    )
    assert r.text.count('class="bulk-ok"') == 2
    assert soc.client.get(f"/api/v1/alerts/{a}", headers=h).json()["status"] == "resolved"
    bad = client.post("/alerts/bulk", data={"csrf_token": token, "action": "x", "item": ["1:1"]})
    assert bad.status_code == 400
    bad = client.post("/alerts/bulk", data={"csrf_token": token, "action": "assign", "item": ["1"]})
    assert bad.status_code == 400


def test_bulk_api_needs_versions(soc):
    a = soc.new_alert()
    r = soc.client.post(
        "/api/v1/alerts/bulk",
        headers=soc.headers("analyst"),
        json={"items": [{"id": a}], "status": "acknowledged"},
    )
    assert r.status_code == 422


def case_with_alerts(soc, client):
    a = soc.new_alert(fields={"source.ip": "198.51.100.1"})
    b = soc.new_alert(fields={"source.ip": "198.51.100.1"})
    others = [soc.new_alert() for _ in range(3)]
    page = client.get(f"/alerts/{a}").text
    assert f'name="also" value="{b}"' in page  # the related alert is offered
    r = client.post(
        f"/alerts/{a}/case",
        data={
            "csrf_token": csrf(page),
            "title": "Brute force",
            "category": "network_attack",
            "grade": "一般",
            "also": [str(b)],
        },
    )
    case_id = int(re.search(r"/cases/(\d+)", str(r.url)).group(1))
    return case_id, a, b, others


def test_case_owner_regrade_close_reopen_through_the_page(soc_sqlite):
    soc = soc_sqlite
    client = soc.client
    login(client)
    case_id, a, b, others = case_with_alerts(soc, client)
    page = client.get(f"/cases/{case_id}").text
    assert f"/alerts/{a}" in page and f"/alerts/{b}" in page
    token = csrf(page)
    low, high = others[0], others[-1]
    r = client.post(
        f"/cases/{case_id}/link", data={"csrf_token": token, "alert_ids": f"{low}-{high}"}
    )
    assert all(f"/alerts/{i}" in r.text for i in others)
    assert (
        client.post(
            f"/cases/{case_id}/link", data={"csrf_token": token, "alert_ids": "1, x"}
        ).status_code
        == 400
    )
    r = client.post(
        f"/cases/{case_id}/owner", data={"csrf_token": token, "version": 1, "owner": "bob"}
    )
    assert 'id="case-owner">bob<' in r.text
    assert soc.notifier.messages[-1]["event"] == "case.assigned"
    r = client.post(
        f"/cases/{case_id}/update",
        data={"csrf_token": token, "version": 2, "op": "save", "grade": "较大"},
    )
    assert 'id="case-grade">较大<' in r.text and "须在 4 小时内报告" in r.text
    no_reason = client.post(
        f"/cases/{case_id}/update", data={"csrf_token": token, "version": 3, "op": "close"}
    )
    assert no_reason.status_code == 400 and "关闭原因" in no_reason.text
    r = client.post(
        f"/cases/{case_id}/update",
        data={"csrf_token": token, "version": 3, "op": "close", "closing_reason": "true_positive"},
    )
    assert 'data-status="closed"' in r.text and "真实告警" in r.text
    api = soc.client.get(f"/api/v1/cases/{case_id}", headers=soc.headers("analyst")).json()
    assert api["status"] == "closed" and api["closing_reason"] == "true_positive"
    assert api["closed_at"] is not None
    assert [t["kind"] for t in api["timeline"]][-1] == "closed"
    r = client.post(
        f"/cases/{case_id}/update", data={"csrf_token": token, "version": 4, "op": "reopen"}
    )
    api = soc.client.get(f"/api/v1/cases/{case_id}", headers=soc.headers("analyst")).json()
    assert api["status"] == "open" and api["closing_reason"] is None
    stale = client.post(
        f"/cases/{case_id}/update", data={"csrf_token": token, "version": 1, "op": "save"}
    )
    assert stale.status_code == 409


def test_observables_are_validated_normalised_linked_and_enriched(soc):
    h = soc.headers("analyst")
    a = soc.new_alert(fields={"source.ip": "2001:db8::1"})
    body = {"title": "c", "alert_ids": [a], "category": "malware", "grade": "一般"}
    first = soc.client.post("/api/v1/cases", headers=h, json=body).json()["id"]
    second = soc.client.post("/api/v1/cases", headers=h, json={**body, "alert_ids": []}).json()[
        "id"
    ]
    for kind, value, fragment in (
        ("ip", "not-an-ip", "不是 IPv4 或 IPv6 地址"),
        ("domain", "exa mple", "不是有效的域名"),
        ("hash", "abc", "十六进制摘要"),
        ("url", "javascript:alert(1)", "网址"),
        ("email", "nobody", "电子邮件地址"),
    ):
        r = soc.client.post(
            f"/api/v1/cases/{first}/observables", headers=h, json={"kind": kind, "value": value}
        )
        assert r.status_code == 400 and fragment in r.json()["detail"], (kind, r.text)
    ok = soc.client.post(
        f"/api/v1/cases/{first}/observables",
        headers=h,
        json={"kind": "ip", "value": "2001:DB8:0::1"},
    )
    assert ok.status_code == 201 and ok.json()["value"] == "2001:db8::1"  # normalised
    soc.client.post(
        f"/api/v1/cases/{second}/observables",
        headers=h,
        json={"kind": "ip", "value": "2001:db8::1"},
    )
    r = soc.client.post(
        f"/api/v1/cases/{first}/observables",
        headers=h,
        json={"kind": "hash", "value": "D41D8CD98F00B204E9800998ECF8427E"},
    )
    assert r.json()["value"] == "d41d8cd98f00b204e9800998ecf8427e"
    from tests.integration.soc.test_soc_web import login as web_login

    web_login(soc.client)
    page = soc.client.get(f"/cases/{first}").text
    # Enriched: the alert that carries the address, and the other case that names it.
    assert "1 条告警，1 个其他事件" in page


def test_case_templates_add_their_tasks_once(soc_sqlite):
    soc = soc_sqlite
    client = soc.client
    login(client)
    case_id, *_ = case_with_alerts(soc, client)
    token = csrf(client.get(f"/cases/{case_id}").text)
    r = client.post(f"/cases/{case_id}/template", data={"csrf_token": token, "template": "malware"})
    assert "将受感染主机断网隔离" in r.text
    first = r.text.count("<li>")
    r = client.post(f"/cases/{case_id}/template", data={"csrf_token": token, "template": "malware"})
    assert r.text.count("<li>") == first  # applied twice, no duplicates
    bad = client.post(f"/cases/{case_id}/template", data={"csrf_token": token, "template": "x"})
    assert bad.status_code == 400
