"""The SOC ingest client's reading of answers and its URL rules (no network: the real SOC is in
tests/integration/contracts/test_alert_ingest.py)."""

from __future__ import annotations

import pytest

from tulou.contracts.alert import Alert
from tulou.contracts.soc_ingest import IngestResult, SocIngestClient, check_url
from tulou.errors import ConfigError, UnavailableError


def _alert(n: int) -> Alert:
    ts = "2026-01-01T00:00:00.000Z"
    return Alert("r", "h" * 64, "t", "low", (f"e{n}",), "d", ts, ts)


def test_rejections_name_the_alert_at_its_place_in_the_whole_sequence() -> None:
    batch = [_alert(1), _alert(2)]
    body = {"created": 1, "duplicates": 0, "rejected": [{"index": 1, "error": "bad"}]}
    result = IngestResult.from_response(body, batch, offset=500)
    assert [(r.index, r.alert_id, r.error) for r in result.rejected] == [
        (501, batch[1].alert_id, "bad")
    ]
    assert result.stored == 1


@pytest.mark.parametrize(
    "body",
    [
        [],
        "ok",
        {"rejected": [{"index": 5, "error": "x"}]},
        {"rejected": [{"error": "no index"}]},
        {"created": "many"},
    ],
)
def test_malformed_answers_are_unavailable_not_success(body: object) -> None:
    with pytest.raises(UnavailableError):
        IngestResult.from_response(body, [_alert(1)])


@pytest.mark.parametrize(
    "url",
    ["ftp://soc", "soc.example", "https://svc:tok@soc.example", "https://soc.example/?token=x"],
)
def test_urls_that_could_leak_or_mislead_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SocIngestClient(url, "secret-token")
    assert url not in str(caught.value)


def test_repr_never_shows_the_token() -> None:
    client = SocIngestClient("https://soc.example/", "s3cr3t-service-token")
    assert "s3cr3t" not in repr(client)
    assert check_url("https://soc.example/base/") == "https://soc.example/base"
