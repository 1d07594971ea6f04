"""gateway.mitmpatch: what it wraps, the head-size arithmetic, the refusal listeners.

The wrapped behaviour over real TLS (431, early refusals, audited protocol errors, SO_REUSEPORT
workers) is tested in tests/integration/gateway (test_abuse_resistance.py, test_shared_state.py).
"""

from __future__ import annotations

import pytest
from mitmproxy.proxy import mode_servers
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import _http1, _http2

from gateway import mitmpatch


def _methods() -> tuple[object, ...]:
    return (
        _http1.Http1Server.read_headers,
        _http2.Http2Connection.protocol_error,
        http_layers.HttpStream.check_killed,
        mode_servers.ReverseInstance.listen,
    )


def test_install_wraps_each_method_once() -> None:
    mitmpatch.install()
    wrapped = _methods()
    for method, name in zip(
        wrapped,
        ("_wrap_read_headers", "_wrap_protocol_error", "_wrap_check_killed", "_wrap_listen"),
        strict=True,
    ):
        assert getattr(method, "__qualname__", "").startswith(f"{name}.<locals>."), method
    mitmpatch.install()  # idempotent: no second layer of wrapping
    assert _methods() == wrapped


@pytest.mark.parametrize(
    ("data", "limit", "end"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 100, 27),
        (b"GET / HTTP/1.1\nHost: a\n\nbody", 100, 24),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", 100, -1),  # not complete yet
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\r\n\r\n", 64, -1),  # ends past the window
    ],
)
def test_head_end(data: bytes, limit: int, end: int) -> None:
    assert mitmpatch._head_end(data, limit) == end


def test_refusals_reach_every_listener_and_a_failing_one_is_contained() -> None:
    seen: list[tuple[object, int, str]] = []

    def broken(*_: object) -> None:
        raise RuntimeError("listener bug")

    mitmpatch.REFUSALS.extend([broken, lambda *args: seen.append(args)])
    try:
        mitmpatch.report(("192.0.2.1", 4000), 431, "too big")
    finally:
        del mitmpatch.REFUSALS[-2:]
    assert seen == [(("192.0.2.1", 4000), 431, "too big")]
