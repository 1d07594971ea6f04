"""Finding 1: alerts carry the entities of their events, filters by them work, and an alert
shows the other alerts on the same entities. Finding 5 (ingest half): a rule that fires is in
the ATT&CK catalogue with its techniques."""

from __future__ import annotations

from tests.integration.soc.test_soc_web import login


def test_entities_come_from_the_events_when_the_alert_lacks_them(soc):
    soc.events.add(
        [
            {
                "event.id": "x-1",
                "@timestamp": "2026-01-01T00:00:00.000Z",
                "host.name": "web-7",
                "source.ip": "203.0.113.50",
                "destination.ip": "10.0.0.5",
                "user.name": "admin",
                "process.executable": "C:\\Windows\\System32\\cmd.exe",
                "url.domain": "Portal.Example.",
            }
        ]
    )
    # The alert itself names none of them (as the demo's alerts did): the events do.
    alert_id = soc.new_alert(event_ids=["x-1"], fields={})
    h = soc.headers("analyst")
    got = soc.client.get(f"/api/v1/alerts/{alert_id}", headers=h).json()
    assert (got["host"], got["source_ip"], got["destination_ip"]) == (
        "web-7",
        "203.0.113.50",
        "10.0.0.5",
    )
    assert (got["user_name"], got["process_name"], got["url_domain"]) == (
        "admin",
        "cmd.exe",
        "portal.example",
    )
    for param, value in (
        ("host", "web-7"),
        ("source_ip", "203.0.113.50"),
        ("destination_ip", "10.0.0.5"),
        ("user", "admin"),
        ("process", "cmd.exe"),
        ("domain", "portal.example"),
    ):
        page = soc.client.get("/api/v1/alerts", params={param: value}, headers=h).json()
        assert [a["id"] for a in page["items"]] == [alert_id], param
        other = soc.client.get("/api/v1/alerts", params={param: "nope"}, headers=h).json()
        assert other["items"] == [], param


def test_the_alerts_fields_win_and_a_grouped_occurrence_fills_the_gaps(soc):
    soc.events.add([{"event.id": "y-1", "@timestamp": "2026-01-01T00:00:00Z", "user.name": "eve"}])
    first = soc.alert(event_ids=["y-0"], fields={"host.name": "db-1"}, dedup_key="same")
    second = soc.alert(event_ids=["y-1"], fields={"host.name": "other"}, dedup_key="same")
    a = soc.ingest(first)["alert_ids"][0]
    assert soc.ingest(second)["grouped"] == 1
    got = soc.client.get(f"/api/v1/alerts/{a}", headers=soc.headers("analyst")).json()
    assert got["host"] == "db-1" and got["user_name"] == "eve"


def test_the_alert_page_lists_related_alerts_and_a_timeline(soc_sqlite):
    soc = soc_sqlite
    a = soc.new_alert(title="Brute force", fields={"source.ip": "198.51.100.1", "host.name": "h1"})
    b = soc.new_alert(title="Port scan", fields={"source.ip": "198.51.100.1", "host.name": "h2"})
    c = soc.new_alert(title="Unrelated", fields={"source.ip": "192.0.2.99", "host.name": "h3"})
    client = soc.client
    login(client)
    page = client.get(f"/alerts/{a}").text
    assert f'class="related-row" data-id="{b}"' in page
    assert f'data-id="{c}"' not in page.split('id="related"')[1].split("</table>")[0]
    assert "源地址 198.51.100.1" in page  # what it shares
    assert 'id="alert-timeline"' in page and "Port scan" in page.split('id="alert-timeline"')[1]
    # The entity links search it.
    assert "/alerts?q=src%3A%22198.51.100.1%22" in page
    search = client.get("/alerts", params={"q": 'src:"198.51.100.1"'}).text
    assert f'data-id="{a}"' in search and f'data-id="{b}"' in search
    assert f'data-id="{c}"' not in search


def test_a_rule_that_fires_enters_the_attack_catalogue(soc):
    soc.new_alert(
        rule_id="never-registered",
        tags=["attack.credential-access", "attack.t1110.001"],
    )
    metrics = soc.client.get("/api/v1/metrics?days=366", headers=soc.headers("analyst")).json()
    coverage = metrics["attack_coverage"]
    # The sub-technique and its technique (alerts file under both).
    assert coverage["covered"] == 2 and coverage["covered_and_fired"] == 2
    assert list(coverage["matrix"]) == ["credential-access"]  # not "unknown-tactic"
