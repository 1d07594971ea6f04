# ruff: noqa: E501 - real log lines are longer than code lines
"""Apache httpd and nginx error logs, in the shapes the servers write by default."""

from __future__ import annotations

from detect.parsers import default_registry
from detect.parsers.syslog_time import LocalClock
from detect.parsers.web_error import WebErrorParser
from tests.unit.detect.parsers.helpers import check, run

LOG = (
    b"[Wed Oct 14 14:32:52.123456 2026] [core:error] [pid 35708:tid 4328636416] [client 192.0.2.7:52342] AH00037: Symbolic link not allowed or link target not accessible: /srv/www/x, referer: http://portal.city.gov/\n"
    b"[Sun Mar 07 10:02:01 2010] [error] [client 198.51.100.4] client denied by server configuration: /var/www/private\n"
    b"[Tue Oct 13 09:01:02.000001 2026] [auth_basic:error] [pid 4242] [client 2001:db8::7:40000] AH01618: user bob not found: /admin\n"
    b'2026/10/14 14:32:52 [error] 1234#5678: *42 open() "/srv/www/wp-login.php" failed (2: No such file or directory), client: 192.0.2.7, server: portal.city.gov, request: "GET /wp-login.php?x=1 HTTP/1.1", host: "portal.city.gov:8443", referrer: "http://a/"\n'
    b'2026/10/14 14:33:00 [error] 1234#5678: *43 user "admin": password mismatch, client: 203.0.113.9, server: portal.city.gov, request: "POST /admin HTTP/1.1", host: "portal.city.gov"\n'
    b"2026/10/14 14:35:00 [notice] 1#1: signal process started\n"
    b"2026/10/14 14:36:00 [crit] 7#7: *9 SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking, client: 198.51.100.20, server: 0.0.0.0:443\n"
)


def test_apache_and_nginx_error_lines() -> None:
    events, rejected = run(WebErrorParser(clock=LocalClock(zone="UTC")), LOG)
    assert rejected == []
    apache24, apache22, apache_v6, nginx, mismatch, notice, crit = events
    check(
        apache24,
        {
            "@timestamp": "2026-10-14T14:32:52.000Z",
            "event.dataset": "web.error",
            "event.category": ["web"],
            "event.type": ["error"],
            "event.module": "apache",
            "log.level": "error",
            "apache.error.module": "core",
            "error.code": "AH00037",
            "process.pid": 35708,
            "process.thread.id": 4328636416,
            "source.ip": "192.0.2.7",
            "source.port": 52342,
            "related.ip": ["192.0.2.7"],
            "http.request.referrer": "http://portal.city.gov/",
            "message": "Symbolic link not allowed or link target not accessible: /srv/www/x",
        },
    )
    check(
        apache22,
        {
            "@timestamp": "2010-03-07T10:02:01.000Z",
            "source.ip": "198.51.100.4",
            "log.level": "error",
            "message": "client denied by server configuration: /var/www/private",
        },
    )
    check(apache_v6, {"source.ip": "2001:db8::7", "source.port": 40000, "error.code": "AH01618"})
    check(
        nginx,
        {
            "event.module": "nginx",
            "process.pid": 1234,
            "process.thread.id": 5678,
            "nginx.error.connection_id": 42,
            "source.ip": "192.0.2.7",
            "destination.domain": "portal.city.gov",
            "http.request.method": "GET",
            "url.original": "/wp-login.php?x=1",
            "url.path": "/wp-login.php",
            "url.query": "x=1",
            "url.domain": "portal.city.gov",
            "http.request.referrer": "http://a/",
            "message": 'open() "/srv/www/wp-login.php" failed (2: No such file or directory)',
        },
    )
    check(mismatch, {"http.request.method": "POST", "source.ip": "203.0.113.9"})
    check(notice, {"log.level": "notice", "message": "signal process started"})
    assert "source.ip" not in notice
    check(crit, {"log.level": "critical", "source.ip": "198.51.100.20"})


def test_local_time_in_the_sources_zone() -> None:
    (event,), _ = run(WebErrorParser(), LOG.splitlines(keepends=True)[3])
    assert event["@timestamp"] == "2026-10-14T06:32:52.000Z"  # Asia/Shanghai by default


def test_detected_and_bad_lines_rejected() -> None:
    assert default_registry().detect(LOG).id == "web.error"
    events, rejected = run(
        WebErrorParser(),
        b"[Wed Foo 14 14:32:52 2026] [error] x\n2026/02/30 10:00:00 [error] 1#0: x\nnope\n",
    )
    assert events == []
    assert [r.reason.split(":")[0] for r in rejected] == [
        "bad month 'Foo'",
        "bad error-log time",
        "not an Apache or nginx error log line",
    ]


def test_apache_module_may_be_empty() -> None:
    # mod_php and ModSecurity log "[:error]" (no module name).
    line = b"[Mon Dec 23 07:49:01.981912 2013] [:error] [pid 3790] [client 192.0.2.107:46301] script '/var/www/timthumb.php' not found or unable to stat\n"
    (event,), _ = run(WebErrorParser(clock=LocalClock(zone="UTC")), line)
    check(event, {"log.level": "error", "source.port": 46301, "apache.error.module": None})
