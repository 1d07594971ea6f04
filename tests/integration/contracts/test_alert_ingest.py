"""Contract: the Alert format and the one SOC ingest client against the real SOC.

Producers: detect's HTTP alert sink and backup's drill alert, both through
tulou.contracts.soc_ingest; consumer: the SOC app (its ingest endpoint, auth and database)
served on a loopback port. What the SOC shows afterwards is read back through its own API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backup import soc_report
from detect.alerts import open_sink
from tests.fixtures.live_soc import LiveSoc, live_soc
from tulou.contracts.alert import Alert
from tulou.contracts.soc_ingest import MAX_BATCH, SocIngestClient
from tulou.errors import ConfigError, InputError, UnavailableError


@pytest.fixture
def soc(tmp_path: Path) -> Iterator[LiveSoc]:
    with live_soc(tmp_path) as running:
        yield running


def _alert(n: int, **overrides: Any) -> Alert:
    data: dict[str, Any] = {
        "rule_id": "ssh-brute-force",
        "rule_hash": "b" * 64,
        "title": f"SSH brute force {n}",
        "level": "high",
        "event_ids": (f"ev-{n}",),
        "dedup_key": f"dk-{n}",
        "first_seen": "2026-03-01T10:00:00.000Z",
        "last_seen": "2026-03-01T10:05:00.000Z",
        "tags": ("attack.credential-access", "attack.t1110.001"),
        "description": "many failed logins",
        "fields": {"source.ip": "192.0.2.7", "host.name": "web-1"},
    }
    data.update(overrides)
    return Alert(**data)


def test_detect_sink_delivers_what_the_soc_shows(soc: LiveSoc) -> None:
    sink = open_sink(soc.url, soc.service_token)
    first = sink.deliver([_alert(1), _alert(2)])
    again = sink.deliver([_alert(2)])
    assert (first.delivered, first.duplicates, again.delivered, again.duplicates) == (2, 0, 0, 1)
    shown = {a["title"]: a for a in soc.alerts()}
    assert set(shown) == {"SSH brute force 1", "SSH brute force 2"}
    one = shown["SSH brute force 1"]
    assert (one["rule_id"], one["rule_hash"], one["severity"], one["dedup_key"]) == (
        "ssh-brute-force",
        "b" * 64,
        "high",
        "dk-1",
    )
    assert (one["host"], one["source_ip"]) == ("web-1", "192.0.2.7")
    assert set(one["tags"]) == {"attack.credential-access", "attack.t1110.001"}
    assert soc.service_token not in repr(sink)


def test_batches_beyond_the_request_limit(soc: LiveSoc) -> None:
    alerts = [_alert(n, dedup_key="one-group") for n in range(MAX_BATCH + 7)]
    result = SocIngestClient(soc.url, soc.service_token).send(alerts)
    assert (result.created, result.grouped, result.rejected) == (1, MAX_BATCH + 6, [])
    (group,) = soc.alerts()
    assert group["count"] == MAX_BATCH + 7


def test_refused_items_are_named_and_the_rest_stored(soc: LiveSoc) -> None:
    bad = _alert(2, title="x" * 600)  # the SOC accepts titles up to 512 characters
    result = SocIngestClient(soc.url, soc.service_token).send([_alert(1), bad, _alert(3)])
    assert [(r.index, r.alert_id) for r in result.rejected] == [(1, bad.alert_id)]
    assert "title" in result.rejected[0].error
    assert result.created == 2
    with pytest.raises(InputError, match=bad.alert_id):
        open_sink(soc.url, soc.service_token).deliver([bad])


def test_token_and_url_rules(soc: LiveSoc) -> None:
    with pytest.raises(ConfigError, match="token"):
        SocIngestClient(soc.url, "not-the-token").send([_alert(1)])
    with pytest.raises(ConfigError, match="credentials"):
        SocIngestClient(soc.url.replace("http://", f"http://detect:{soc.service_token}@"), None)
    port = httpx.URL(soc.url).port
    with pytest.raises(UnavailableError):
        SocIngestClient(f"http://127.0.0.1:{port + 1 if port else 9}", "t", timeout=2).send(
            [_alert(1)]
        )
    assert soc.alerts() == []


def _drill_record(outcome: str) -> dict[str, Any]:
    return {
        "drill_id": "d" * 32,
        "scenario": "ransomware",
        "outcome": outcome,
        "started": "2026-03-02T08:00:00+00:00",
        "finished": "2026-03-02T08:01:30+00:00",
        "error": "VerificationError: restored file differs",
        "rto": {"objective_seconds": 60, "achieved_seconds": 90.0, "met": False},
        "rpo": {"objective_seconds": 3600, "achieved_seconds": 10.0, "met": True},
        "signer": {"fingerprint": "f" * 64},
    }


def test_backup_drill_alert_reaches_the_soc(soc: LiveSoc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SOC_TOKEN", soc.service_token)
    sent = soc_report.report(_drill_record("failed"), soc.url, "TEST_SOC_TOKEN")
    assert sent["posted"] is True
    (alert,) = soc.alerts()
    assert (alert["rule_id"], alert["severity"]) == (soc_report.RULE_ID, "high")
    assert alert["title"] == "DR drill ransomware failed"
    again = soc_report.report(_drill_record("failed"), soc.url, "TEST_SOC_TOKEN")
    assert again == {"posted": True, "alert_id": sent["alert_id"], "duplicate": True}


def test_backup_drill_alert_problems_are_reported_not_raised(soc: LiveSoc) -> None:
    wrong = soc_report.report(_drill_record("failed"), soc.url, "UNSET_TOKEN_VARIABLE_X")
    assert wrong["posted"] is False and "token" in wrong["reason"]
    creds = soc_report.report(_drill_record("failed"), "http://u:p@127.0.0.1:9", "X")
    assert creds["posted"] is False and "credentials" in creds["reason"]
    passed = soc_report.report(_drill_record("passed"), soc.url, "X")
    assert passed == {"posted": False, "reason": "drill passed"}
