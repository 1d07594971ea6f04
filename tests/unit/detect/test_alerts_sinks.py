"""One conformance suite for every AlertSink (memory fake, SQLite alerts table, SOC HTTP).

The HTTP sink runs against a real HTTP server on loopback that implements the SOC ingest
contract (idempotent on alert_id, bearer token required); the SOC's own tests cover the SOC.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from detect.alerts import AlertSink, open_sink
from detect.alerts.http import HttpAlertSink
from tulou.contracts.alert import Alert
from tulou.errors import ConfigError, UnavailableError

TOKEN = "svc-" + "7" * 24


def _alert(n: int, **kw: Any) -> Alert:
    return Alert(
        rule_id="r-1",
        rule_hash="a" * 64,
        title="t",
        level="high",
        event_ids=(f"e{n}",),
        dedup_key="d",
        first_seen=f"2025-03-01T10:00:{n:02d}.000Z",
        last_seen=f"2025-03-01T10:00:{n:02d}.000Z",
        tags=("attack.t1110",),
        fields={"source.ip": "10.0.0.1", "n": n},
        **kw,
    )


class _Soc(BaseHTTPRequestHandler):
    store: ClassVar[dict[str, dict[str, Any]]] = {}

    def do_POST(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        created = duplicates = 0
        for item in body["alerts"]:
            if item["alert_id"] in self.store:
                duplicates += 1
            else:
                self.store[item["alert_id"]] = item
                created += 1
        out = json.dumps(
            {
                "created": created,
                "grouped": 0,
                "duplicates": duplicates,
                "rejected": [],
                "alert_ids": [],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def soc() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    _Soc.store = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Soc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Soc.store
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["memory", "sqlite"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertSink]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'alerts.db'}"
    opened = open_sink(url)
    yield opened
    opened.close()


def test_conformance_idempotent_and_lossless(sink: AlertSink) -> None:
    first = sink.deliver([_alert(1), _alert(2)])
    assert (first.delivered, first.duplicates) == (2, 0)
    again = sink.deliver([_alert(2), _alert(3)])
    assert (again.delivered, again.duplicates) == (1, 1)
    stored = sink.alerts()
    assert [a.to_dict() for a in stored] == [_alert(n).to_dict() for n in (1, 2, 3)]


def test_sqlite_sink_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'alerts.db'}"
    sink = open_sink(url)
    sink.deliver([_alert(1)])
    sink.close()
    again = open_sink(url)
    assert again.deliver([_alert(1)]).duplicates == 1
    assert again.alerts() == [_alert(1)]
    again.close()


def test_http_sink_conformance(soc: tuple[str, dict[str, Any]]) -> None:
    url, store = soc
    sink = open_sink(url, TOKEN)
    first = sink.deliver([_alert(1), _alert(2)])
    again = sink.deliver([_alert(2), _alert(3)])
    assert (first.delivered, again.delivered, again.duplicates) == (2, 1, 1)
    assert sorted(store) == sorted(_alert(n).alert_id for n in (1, 2, 3))
    assert store[_alert(1).alert_id] == _alert(1).to_dict()
    assert TOKEN not in repr(sink)


def test_http_sink_wrong_token_and_unreachable(soc: tuple[str, dict[str, Any]]) -> None:
    url, _ = soc
    with pytest.raises(ConfigError):
        HttpAlertSink(url, "wrong-token").deliver([_alert(1)])
    with pytest.raises(UnavailableError):
        HttpAlertSink("http://127.0.0.1:9", TOKEN, timeout=2).deliver([_alert(1)])
    with pytest.raises(ConfigError):
        HttpAlertSink("http://user:pw@127.0.0.1:9", None)


def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        open_sink("ftp://x")


@pytest.mark.parametrize("spelling", ["sqlite:{rel}", "sqlite://{rel}", "sqlite:///{abs}"])
def test_sqlite_urls_mean_the_same_file_for_sinks_and_stores(
    spelling: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One grammar: an event store and an alert sink given the same URL use the same file."""
    from detect.stores import open_store

    monkeypatch.chdir(tmp_path)
    url = spelling.format(rel="same.db", abs=(tmp_path / "same.db").as_posix().lstrip("/"))
    store = open_store(url)
    store.close()
    sink = open_sink(url)
    sink.deliver([_alert(1)])
    sink.close()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".db"] == ["same.db"]
