"""Render the fast plane's nginx.conf from the gateway config (one source of truth).

``tulou gateway render-nginx --config gateway.yaml`` prints it; ``tulou gateway run --data-plane
nginx`` writes it to ``data_plane.workdir`` and starts nginx with it. What it contains:

- **TLS front**: the gateway certificate, TLS 1.2+, HTTP/1.1 and HTTP/2 on ``listen``; the device
  CA as ``ssl_client_certificate`` with ``ssl_verify_client optional`` (and ``ssl_crl``): a bad
  chain or a revoked certificate is refused by nginx per request (403 ``builtin:device-invalid``);
  plain HTTP on the TLS port is 400 ``builtin:tls-required``.
- **Before any decision** (nginx-native): ``limit_req`` per address (``rate_limit.ip``),
  ``limit_conn`` (``limits.max_connections_per_address``), head timeout and size
  (``client_header_timeout``, ``large_client_header_buffers``), idle and body timeouts,
  ``client_max_body_size`` (the largest route limit; each route's own limit is decided with the
  request head), invalid header names
  and underscores dropped, every ``X-Tulou-*`` header the client sent cleared (headers-more).
- **The decision**: ``auth_request`` to the decision point on its Unix socket (keep-alive pool)
  with the client's headers and the front fields (:mod:`gateway.decision.front`); the allowed
  request goes to the route's upstream pool (keep-alive) with the canonical origin-form target,
  the assertion, the request id and ``X-Forwarded-*`` set, and ``Authorization``, the strip list,
  the forwarding and trust headers removed. A denial is answered by nginx with the status the
  decision point chose and the JSON body of the mitmproxy plane.
- **Audit**: one line per request in the audit file, the decision point's fields completed by
  nginx (final status, duration, client port); requests nginx refused itself get a line with a
  ``builtin:*`` rule from their status.

The TLS front is only this ``server`` block: a different terminator (issue 25, TLCP) replaces
it and sends the same front fields.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.config import GatewayConfig, route_body_limit
from gateway.trust_headers import FORWARDED, TRUST_HEADERS
from tulou.errors import ConfigError

#: nginx's workers when it starts as root (Debian's user for them); the decision socket is
#: shared with this user's group only (``gateway.decision.service.share_with_workers``).
WORKER_USER = "www-data"
HEADERS_MORE = Path("/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so")
MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "no such route",
    408: "request timeout",
    411: "length required",
    413: "request body too large",
    429: "too many requests",
    431: "request header fields too large",
    500: "internal error",
    502: "bad gateway",
    503: "service unavailable",
}
# Rules of the requests nginx refuses itself (no decision made), by final status.
_REFUSED = {
    400: "builtin:bad-request",
    404: "builtin:no-route",
    408: "builtin:timeout",
    413: "builtin:too-large",
    414: "builtin:too-large",
    429: "builtin:rate-limited",
    431: "builtin:too-large",
    494: "builtin:too-large",
    500: "builtin:internal-error",
    502: "builtin:internal-error",
    503: "builtin:state-unavailable",
    504: "builtin:internal-error",
}


def _rate(rate: float) -> str:
    return f"{max(1, round(rate))}r/s" if rate >= 1 else f"{max(1, round(rate * 60))}r/m"


def fast_routes(config: GatewayConfig) -> list[str]:
    """Ids of the routes the fast plane serves; refuses configs it cannot serve yet."""
    inspect = [r.id for r in config.routes if r.data_plane != "fast"]
    if inspect:
        raise ConfigError(
            "routes " + ", ".join(inspect) + " need the inspection plane (they read bodies); "
            "serve them with `tulou gateway run --data-plane mitmproxy` on their own listener"
        )
    return [r.id for r in config.routes]


def render(config: GatewayConfig, *, socket: Path, workdir: Path, audit: Path | None) -> str:
    """nginx.conf for ``config`` (see the module docstring). Raises :class:`ConfigError`."""
    fast_routes(config)
    if not HEADERS_MORE.exists():
        raise ConfigError(
            f"{HEADERS_MORE} is missing (Debian: libnginx-mod-http-headers-more-filter): "
            "without it client X-Tulou-* headers could reach the apps"
        )
    limits, rates = config.limits, config.rate_limit
    largest = max(route_body_limit(config, r) for r in config.routes)
    buffer = max(1024, limits.max_header_bytes // 4)
    workers = config.data_plane.workers
    lines: list[str] = [
        f"load_module {HEADERS_MORE};",
        *([f"user {WORKER_USER};"] if os.geteuid() == 0 else []),
        f"worker_processes {workers};",
        f"pid {workdir}/nginx.pid;",
        f"error_log {workdir}/error.log warn;",
        "events { worker_connections 4096; }",
        "http {",
        "  server_tokens off;",
        f"  client_body_temp_path {workdir}/body; proxy_temp_path {workdir}/proxy;",
        f"  fastcgi_temp_path {workdir}/fcgi; uwsgi_temp_path {workdir}/uwsgi;",
        f"  scgi_temp_path {workdir}/scgi;",
        f"  client_header_timeout {limits.header_timeout:g}s;",
        f"  client_body_timeout {limits.body_timeout:g}s;",
        f"  keepalive_timeout {limits.idle_timeout:g}s;",
        "  send_timeout 60s;",
        "  client_header_buffer_size 1k;",
        f"  large_client_header_buffers 4 {buffer};",
        f"  client_max_body_size {largest};",
        "  underscores_in_headers off; ignore_invalid_headers on;",
        "  merge_slashes off;",  # the decision point canonicalises; nginx must not pre-judge
        "  default_type application/json;",
        "  limit_req_status 429; limit_conn_status 429;",
        "  limit_conn_zone $binary_remote_addr zone=tulou_conn:10m;",
    ]
    if rates.ip is not None:
        lines.append(
            f"  limit_req_zone $binary_remote_addr zone=tulou_ip:10m rate={_rate(rates.ip.rate)};"
        )
    lines += _audit_formats()
    if audit is None and config.data_plane.access_log is None:
        lines.append("  access_log off;")
    if audit is not None:
        lines += [
            f"  access_log {audit} tulou_decided if=$tulou_has_audit;",
            f"  access_log {audit} tulou_refused if=$tulou_no_audit;",
        ]
    if config.data_plane.access_log is not None:
        lines.append(f"  access_log {config.data_plane.access_log} combined;")
    lines += [
        "  upstream tulou_decision {",
        f"    server unix:{socket};",
        "    keepalive 64;",
        "  }",
    ]
    for route in config.routes:
        _scheme, host, port = route.upstream_parts
        target = f"[{host}]" if ":" in host else host
        lines += [
            f"  upstream tulou_{route.id.replace('.', '_')} {{",
            f"    server {target}:{port};",
            "    keepalive 32;",
            "  }",
        ]
    lines += _server(config)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _audit_formats() -> list[str]:
    refused = ", ".join(f"{status} {rule}" for status, rule in _REFUSED.items())
    return [
        # @timestamp from nginx's clock (nginx runs with TZ=UTC): second + milliseconds
        '  map $time_iso8601 $tulou_second { "~^(?<s>[^+Z]+)" $s; }',
        '  map $msec $tulou_millis { "~\\.(?<m>[0-9]{3})$" $m; }',
        "  map $request_time $tulou_duration_ns {",
        '    "~^0\\.0*(?<n>[1-9][0-9]*)$" "${n}000000";',
        '    "~^(?<s>[1-9][0-9]*)\\.(?<m>[0-9]{3})$" "${s}${m}000000";',
        "    default 0;",
        "  }",
        '  map $tulou_audit $tulou_has_audit { "" 0; default 1; }',
        '  map $tulou_audit $tulou_no_audit { "" 1; default 0; }',
        "  map $status $tulou_status_rule { "
        + " ".join(f"{s} {r};" for s, r in _REFUSED.items())
        + " default builtin:protocol-error; }",
        '  map $tulou_refusal $tulou_refused_rule { "" $tulou_status_rule; '
        "device builtin:device-invalid; tls builtin:tls-required; "
        "decision builtin:internal-error; }",
        '  map $tulou_refusal $tulou_refused_reason { "" "refused by the fast plane (nginx)"; '
        '"device" "device certificate refused by the TLS front"; '
        '"tls" "plain HTTP on the TLS listener"; '
        '"decision" "the decision point did not answer"; }',
        "  log_format tulou_decided escape=none '{$tulou_audit,"
        '"event.duration":$tulou_duration_ns,"http.response.status_code":$status,'
        '"source.port":$remote_port}\';',
        "  log_format tulou_refused escape=json '{"
        '"@timestamp":"${tulou_second}.${tulou_millis}Z","event.kind":"event",'
        '"event.category":["network","web"],"event.type":["access","denied"],'
        '"event.action":"gateway-decision","event.outcome":"failure",'
        '"event.dataset":"tulou.gateway","event.module":"tulou","event.id":"$request_id",'
        '"event.reason":"$tulou_refused_reason","event.duration":$tulou_duration_ns,'
        '"rule.id":"$tulou_refused_rule","rule.ruleset":"tulou-gateway-policy",'
        '"http.request.method":"","http.response.status_code":$status,"url.domain":"",'
        '"url.path":"","source.ip":"$remote_addr","observer.type":"proxy",'
        '"observer.product":"tulou-gateway","source.port":$remote_port,'
        '"tulou.gateway.plane":"fast"}\';',
        f"  # refused statuses: {refused}",
    ]


def _server(config: GatewayConfig) -> list[str]:
    limits, rates = config.limits, config.rate_limit
    listen = config.listen
    host = f"[{listen.host}]" if ":" in listen.host else listen.host
    strip = sorted(
        {h.lower() for h in config.strip_headers}
        | set(FORWARDED)
        | set(TRUST_HEADERS)
        | {"authorization", "x-tulou-request-id"}
    )
    assertion = config.assertion.header if config.assertion else "X-Tulou-Identity"
    lines = [
        "  server {",
        f"    listen {host}:{listen.port} ssl http2 reuseport;",
        f"    ssl_certificate {config.tls.cert};",
        f"    ssl_certificate_key {config.tls.key};",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_session_cache shared:tulou_tls:10m;",
        f"    ssl_client_certificate {config.device.ca};",
        "    ssl_verify_client optional;",
        "    ssl_verify_depth 4;",
    ]
    if config.device.crl is not None:
        lines.append(f"    ssl_crl {config.device.crl};")
    lines += [
        '    set $tulou_refusal "";',
        "    error_page 495 496 =403 /.tulou/device;",
        "    error_page 497 =400 /.tulou/plain;",
        f"    limit_conn tulou_conn {limits.max_connections_per_address};",
    ]
    if rates.ip is not None:
        lines.append(f"    limit_req zone=tulou_ip burst={max(1, round(rates.ip.burst))} nodelay;")
    lines += [
        "    location / {",
        "      more_clear_input_headers 'X-Tulou-*';",
        "      auth_request /.tulou/decide;",
        "      auth_request_set $tulou_audit $upstream_http_x_tulou_audit;",
        "      auth_request_set $tulou_upstream $upstream_http_x_tulou_upstream;",
        "      auth_request_set $tulou_target $upstream_http_x_tulou_target;",
        "      auth_request_set $tulou_scheme $upstream_http_x_tulou_scheme;",
        "      auth_request_set $tulou_identity $upstream_http_x_tulou_identity;",
        "      auth_request_set $tulou_status $upstream_http_x_tulou_status;",
        "      auth_request_set $tulou_retry $upstream_http_retry_after;",
        "      error_page 403 = /.tulou/deny/$tulou_status;",
        "      error_page 500 = /.tulou/unavailable;",
        "      proxy_pass $tulou_scheme://$tulou_upstream$tulou_target;",
        "      proxy_http_version 1.1;",
        '      proxy_set_header Connection "";',
        "      proxy_set_header Host $host;",
        f"      proxy_set_header {assertion} $tulou_identity;",
        "      proxy_set_header X-Tulou-Request-Id $request_id;",
        "      proxy_set_header X-Forwarded-For $remote_addr;",
        "      proxy_set_header X-Forwarded-Proto https;",
        "      proxy_set_header X-Forwarded-Host $host;",
    ]
    lines += [
        f'      proxy_set_header {h} "";'
        for h in strip
        if h not in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")
        and h != assertion.lower()
        and h != "x-tulou-request-id"
    ]
    lines += [
        "      proxy_request_buffering off;",
        *(
            [
                "      proxy_ssl_verify on;",
                f"      proxy_ssl_trusted_certificate {config.upstream_ca};",
                "      proxy_ssl_server_name on;",
            ]
            if config.upstream_ca is not None
            else []
        ),
        "      proxy_intercept_errors off;",
        "      add_header X-Tulou-Request-Id $request_id always;",
        "    }",
        "    location = /.tulou/decide {",
        "      internal;",
        "      proxy_pass http://tulou_decision/decide;",
        "      proxy_http_version 1.1;",
        '      proxy_set_header Connection "";',
        "      proxy_pass_request_body off;",
        '      proxy_set_header Content-Length "";',
        "      proxy_set_header Host $http_host;",
        "      proxy_set_header X-Tulou-Front-Request $request;",
        "      proxy_set_header X-Tulou-Front-Addr $remote_addr;",
        "      proxy_set_header X-Tulou-Front-Port $remote_port;",
        "      proxy_set_header X-Tulou-Front-Tls $ssl_protocol;",
        "      proxy_set_header X-Tulou-Front-Cert $ssl_client_escaped_cert;",
        "      proxy_set_header X-Tulou-Front-Length $content_length;",
        "      proxy_set_header X-Tulou-Front-Chunked $http_transfer_encoding;",
        "      proxy_set_header X-Tulou-Front-Connection $http_connection;",
        "      proxy_set_header X-Tulou-Front-Id $request_id;",
        "      proxy_buffer_size 32k; proxy_buffers 4 32k; proxy_busy_buffers_size 32k;",
        "      proxy_connect_timeout 1s; proxy_read_timeout 5s; proxy_send_timeout 5s;",
        "    }",
    ]
    for status, message in MESSAGES.items():
        extra = ""
        if status == 401:
            extra = "add_header WWW-Authenticate 'Bearer realm=\"tulou\"' always; "
        if status == 429:
            extra = "add_header Retry-After $tulou_retry always; "
        body = f'{{"error": "{message}", "request_id": "$request_id"}}'
        lines.append(
            f"    location = /.tulou/deny/{status} {{ internal; "
            "add_header X-Tulou-Request-Id $request_id always; "
            f"{extra}return {status} '{body}'; }}"
        )
    lines += [
        "    location ^~ /.tulou/deny/ { internal; "
        "add_header X-Tulou-Request-Id $request_id always; "
        'return 500 \'{"error": "internal error", "request_id": "$request_id"}\'; }',
        "    location = /.tulou/device { internal; set $tulou_refusal device; "
        "add_header X-Tulou-Request-Id $request_id always; "
        'return 403 \'{"error": "forbidden", "request_id": "$request_id"}\'; }',
        "    location = /.tulou/plain { internal; set $tulou_refusal tls; "
        'return 400 \'{"error": "bad request", "request_id": "$request_id"}\'; }',
        "    location = /.tulou/unavailable { internal; set $tulou_refusal decision; "
        "add_header X-Tulou-Request-Id $request_id always; "
        'return 500 \'{"error": "internal error", "request_id": "$request_id"}\'; }',
        "  }",
    ]
    return lines
