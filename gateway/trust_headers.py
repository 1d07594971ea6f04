"""Headers no client may set: the forwarding headers and those apps trust for identity."""

from __future__ import annotations

#: Forwarding headers: the gateway sets its own.
FORWARDED = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-user",
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-original-host",
    "x-original-method",
)
#: Headers apps and frameworks are known to trust for identity, address or method.
TRUST_HEADERS = (
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-authenticated-user",
    "x-authenticated-userid",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "proxy-authorization",
    "proxy-connection",
    "keep-alive",
)
