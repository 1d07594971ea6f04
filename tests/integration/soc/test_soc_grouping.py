"""Alert grouping by rule and entity over a time window (besides the dedup key)."""

from __future__ import annotations

from tests.integration.soc.test_soc_web import login


def test_groups_by_rule_entity_and_hour(soc):
    def alert(rule, ip, minute, level="medium", hour=8):
        return soc.new_alert(
            rule_id=rule,
            level=level,
            first_seen=f"2026-01-01T{hour:02d}:{minute:02d}:00.000Z",
            last_seen=f"2026-01-01T{hour:02d}:{minute:02d}:30.000Z",
            fields={"source.ip": ip},
        )

    a1 = alert("brute", "203.0.113.9", 1)
    alert("brute", "203.0.113.9", 40, level="high")
    alert("brute", "203.0.113.9", 5, hour=9)  # the next hour: another group
    alert("brute", "198.51.100.1", 2)  # another address
    alert("scan", "203.0.113.9", 3)  # another rule
    soc.new_alert(rule_id="brute", fields={})  # no address: not grouped
    h = soc.headers("analyst")
    got = soc.client.get(
        "/api/v1/alert-groups", params={"by": "source_ip", "window": "hour"}, headers=h
    ).json()
    rows = [
        (g["rule_id"], g["entity"], g["window_start"][:13], g["alerts"], g["worst"]) for g in got
    ]
    assert rows == [
        ("brute", "203.0.113.9", "2026-01-01T09", 1, "medium"),
        ("brute", "203.0.113.9", "2026-01-01T08", 2, "high"),
        ("brute", "198.51.100.1", "2026-01-01T08", 1, "medium"),
        ("scan", "203.0.113.9", "2026-01-01T08", 1, "medium"),
    ]
    daily = soc.client.get(
        "/api/v1/alert-groups", params={"by": "source_ip", "window": "day"}, headers=h
    ).json()
    first = daily[0]
    assert (first["rule_id"], first["entity"], first["alerts"]) == (
        "brute",
        "203.0.113.9",
        3,
    )
    filtered = soc.client.get(
        "/api/v1/alert-groups", params={"q": "severity:high"}, headers=h
    ).json()
    assert [(g["entity"], g["alerts"]) for g in filtered] == [("203.0.113.9", 1)]
    assert soc.client.get("/api/v1/alert-groups?by=colour", headers=h).status_code == 422
    assert soc.client.get("/api/v1/alert-groups?window=week", headers=h).status_code == 422
    assert a1


def test_the_groups_page_links_to_the_alerts(soc_sqlite):
    soc = soc_sqlite
    a = soc.new_alert(rule_id="brute", fields={"user.name": "root"})
    b = soc.new_alert(rule_id="brute", fields={"user.name": "root"})
    client = soc.client
    login(client)
    page = client.get("/groups", params={"by": "user", "window": "day"}).text
    assert page.count('class="group-row"') == 1
    link = page.split('class="group-alerts" href="')[1].split('"')[0].replace("&amp;", "&")
    listed = client.get(link).text
    assert f'data-id="{a}"' in listed and f'data-id="{b}"' in listed
