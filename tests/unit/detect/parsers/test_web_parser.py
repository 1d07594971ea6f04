from __future__ import annotations

from detect.parsers.web import WebAccessParser
from tests.unit.detect.parsers.helpers import check, run


def test_combined_format() -> None:
    line = (
        b'203.0.113.9 - alice [10/Oct/2026:13:55:36 -0700] "GET /search?q=%27+OR+1%3D1 HTTP/1.1" '
        b'500 2326 "https://city.gov/" "Mozilla/5.0 (X11; Linux x86_64)"\n'
    )
    (event,), rejected = run(WebAccessParser(), line)
    assert rejected == []
    check(
        event,
        {
            "@timestamp": "2026-10-10T20:55:36.000Z",
            "event.dataset": "web",
            "event.category": ["web"],
            "event.type": ["access"],
            "event.outcome": "failure",
            "source.ip": "203.0.113.9",
            "user.name": "alice",
            "http.request.method": "GET",
            "http.version": "1.1",
            "url.original": "/search?q=%27+OR+1%3D1",
            "url.path": "/search",
            "url.query": "q=%27+OR+1%3D1",
            "http.response.status_code": 500,
            "http.response.body.bytes": 2326,
            "http.request.referrer": "https://city.gov/",
            "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)",
        },
    )


def test_common_format_and_odd_requests() -> None:
    data = (
        b'10.0.0.7 - - [01/Jan/2026:00:00:00 +0000] "POST /login HTTP/1.0" 200 - \n'
        b'client.city.gov - - [01/Jan/2026:00:00:01 +0000] "\\x16\\x03\\x01" 400 157\n'
    )
    (first, second), rejected = run(WebAccessParser(), data)
    assert rejected == []
    check(first, {"http.request.method": "POST", "url.path": "/login", "event.outcome": "success"})
    assert "http.response.body.bytes" not in first
    assert "user_agent.original" not in first
    check(second, {"source.domain": "client.city.gov", "url.original": "\\x16\\x03\\x01"})


def test_bad_timestamp_is_rejected() -> None:
    data = b'10.0.0.7 - - [99/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1\n'
    events, rejected = run(WebAccessParser(), data)
    assert events == []
    assert "timestamp" in rejected[0].reason
